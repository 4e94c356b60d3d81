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
