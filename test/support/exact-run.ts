// Helpers for the tests that compare an interrupted run with an uninterrupted one: a volunteer
// whose socket reconnects by itself (as the page's does), the checkpoint a run wrote, and the
// largest difference between two tensor records.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Volunteer, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import type { EncodedExample } from '@splitlora/data';
import { toWeights, type TensorRecord } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { decodeCheckpoint, type CheckpointData } from '@splitlora/server';
import { io } from 'socket.io-client';
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createRun, waitFor } from './server-harness';

export function reconnectingVolunteer(base: string, examples: EncodedExample[], onEvent: (e: VolunteerEvent) => void, seed = 5) {
  const socket = io(base, { parser: msgpackParser, transports: ['websocket'], reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300 });
  const v = new Volunteer({
    socket, examples, backend: 'wasm', userAgent: 'vitest', seed, onEvent,
    loadModel: async () => { const m = await downloadClientModel(base); return { config: m.config, weights: toWeights(m.weights) }; },
  });
  v.start();
  return v;
}

export function readCheckpoint(dataDir: string, runId: string, round: number): CheckpointData {
  return decodeCheckpoint(new Uint8Array(readFileSync(join(dataDir, 'runs', runId, `checkpoint-${round}.safetensors`))));
}

/** max |a − b| over every tensor; the two must hold the same names. */
export function maxDiff(a: TensorRecord, b: TensorRecord, what = 'tensors'): number {
  expect(Object.keys(a).sort(), what).toEqual(Object.keys(b).sort());
  let worst = 0;
  for (const [k, t] of Object.entries(a)) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - b[k].data[i]));
  return worst;
}

/** Run A of such a comparison: one volunteer trains the run to its end; returns the last checkpoint. */
export async function runStraightThrough(server: { app: FastifyInstance; manager: { runs: Map<string, { state: string }>; recorders: Map<string, { idle(): Promise<void> }> }; base: string }, dataDir: string, examples: EncodedExample[], settings: Record<string, unknown> & { rounds: number }): Promise<CheckpointData> {
  const volunteer = reconnectingVolunteer(server.base, examples, () => {});
  const runId = await createRun(server.app, settings);
  await waitFor(() => server.manager.runs.get(runId)?.state === 'finished', 60_000, 'run A to finish');
  await server.manager.recorders.get(runId)!.idle();
  volunteer.stop();
  await server.app.close();
  return readCheckpoint(dataDir, runId, settings.rounds - 1);
}
