// The volunteer sockets as a Fastify plugin: socket.io on the app's HTTP server once it exists
// (decorated as `volunteers`), lobby admission when a run is attached, the cluster coordinator
// on the same socket.io server, and the shutdown order.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'socket.io';
import type { ClusterCoordinator } from './cluster/coordinator';
import { admitLobby, attachSockets } from './socket';

declare module 'fastify' {
  interface FastifyInstance {
    /** socket.io for volunteers; null until the server is ready. */
    volunteers: Server | null;
  }
}

export interface VolunteerSocketsOptions {
  limits: { maxBatch: number; maxSeqLen: number };
  heartbeat?: { pingInterval: number; pingTimeout: number };
  cluster: ClusterCoordinator | null;
}

async function volunteerSockets(app: FastifyInstance, opts: VolunteerSocketsOptions): Promise<void> {
  const manager = app.runs;
  const { config } = manager.model;
  app.decorate('volunteers', null);
  manager.on('attached', () => {
    if (app.volunteers) admitLobby(app.volunteers);
  });
  app.addHook('onReady', async () => {
    const adapterParams = 4 * config.nLayer * 4 * config.nEmbd * 256; // generous: r ≤ 256, 4 targets
    const limits = { dModel: config.nEmbd, maxBatch: opts.limits.maxBatch, maxSeqLen: Math.min(opts.limits.maxSeqLen, config.nPositions), adapterParams: Math.min(adapterParams, 64 * 1024 * 1024) };
    app.volunteers = attachSockets(app.server, { currentRun: () => manager.current, log: app.log, heartbeat: opts.heartbeat }, limits);
    if (opts.cluster) await opts.cluster.start(app.volunteers, manager);
  });
  // preClose, not onClose: Fastify waits for open connections before onClose, and a volunteer's
  // WebSocket stays open until socket.io closes it.
  app.addHook('preClose', async () => {
    // Runs stop their clocks first, so departing sockets cannot close rounds; a live run keeps
    // its status in the store and resumes when the server starts again on this data directory.
    for (const r of manager.runs.values()) r.close();
    await app.volunteers?.close();
    await opts.cluster?.close();
  });
}

export const volunteerSocketsPlugin = fp(volunteerSockets, { name: 'volunteer-sockets', decorators: { fastify: ['runs'] } });
