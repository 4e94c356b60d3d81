import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsCsv } from './metrics-csv';
import { Store, type RunRow } from './store';

const run = (id: string, status: string, createdAt: number): RunRow => ({
  id, name: id, settings: { rounds: 3, interval: 2 }, modelId: 'm', cut: 1, status, round: 0, globalStep: 0, lastLoss: null, createdAt, updatedAt: createdAt,
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Store', () => {
  it('keeps runs, rounds, clients and metrics on disk in WAL mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'splitlora-store-'));
    dirs.push(dir);
    const file = join(dir, 'splitlora.db');
    const s = new Store(file);
    s.insertRun(run('a', 'finished', 1));
    s.insertRun(run('b', 'training', 2));
    s.insertRun(run('c', 'paused', 3));
    s.updateRun('b', { status: 'training', round: 2, globalStep: 40, lastLoss: 3.5, at: 9 });
    s.putRound('b', { round: 0, participants: 2, failures: [], closedBy: 'complete', aggregated: true, reason: null, openedAt: 4, at: 5, checkpoint: null });
    s.putRound('b', { round: 1, participants: 1, failures: ['c-2:deadline'], closedBy: 'deadline', aggregated: true, reason: null, openedAt: 6, at: 7, checkpoint: null });
    s.setRoundCheckpoint('b', 1, 'checkpoint-1.safetensors');
    // A round trained again after a resume replaces its row.
    s.putRound('b', { round: 0, participants: 3, failures: [], closedBy: 'complete', aggregated: true, reason: null, openedAt: 8, at: 9, checkpoint: 'checkpoint-0.safetensors' });
    const client = { id: 'c-1', resumeToken: 't1', backend: 'wasm', userAgent: 'ua', examples: 5, steps: 3, tokens: 30, tokensPerSec: null, bytesUp: 100, bytesDown: 200, lastLoss: 2.5, firstSeen: 1, lastSeen: 2 };
    s.upsertClients('b', [client]);
    s.upsertClients('b', [{ ...client, steps: 4, tokensPerSec: 12.5, lastSeen: 3 }]);
    s.close();

    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const t = new Store(file);
    expect(t.listRuns().map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(t.interruptedRuns().map((r) => r.id)).toEqual(['c', 'b']);
    expect(t.getRun('b')).toMatchObject({ status: 'training', round: 2, globalStep: 40, lastLoss: 3.5, settings: { rounds: 3, interval: 2 } });
    expect(t.getRun('zzz')).toBeNull();
    expect(t.rounds('b')).toEqual([
      { round: 0, participants: 3, failures: [], closedBy: 'complete', aggregated: true, reason: null, openedAt: 8, at: 9, checkpoint: 'checkpoint-0.safetensors' },
      { round: 1, participants: 1, failures: ['c-2:deadline'], closedBy: 'deadline', aggregated: true, reason: null, openedAt: 6, at: 7, checkpoint: 'checkpoint-1.safetensors' },
    ]);
    expect(t.clients('b')).toEqual([{ ...client, steps: 4, tokensPerSec: 12.5, lastSeen: 3 }]);
    t.close();
  });

  it('returns metric events as they were emitted, filtered by time, cursor and kind', () => {
    const s = new Store(':memory:');
    s.insertRun(run('r', 'training', 1));
    s.addMetrics('r', [
      { kind: 'state', at: 100, state: 'training', round: 0 },
      { kind: 'step', at: 110, clientId: 'c-1', round: 0, step: 1, globalStep: 1, loss: 4.25, tokens: 64 },
      { kind: 'step', at: 120, clientId: 'c-2', round: 0, step: 1, globalStep: 2, loss: 4.5, tokens: 64 },
      { kind: 'round', at: 130, round: 0, participants: 2, failures: ['c-3:disconnect'], closedBy: 'complete', aggregated: true },
    ]);
    const all = s.metrics('r');
    expect(all.map((m) => m.kind)).toEqual(['state', 'step', 'step', 'round']);
    expect(all[1]).toEqual({ id: all[1].id, kind: 'step', at: 110, clientId: 'c-1', round: 0, step: 1, globalStep: 1, loss: 4.25, tokens: 64 });
    expect(all[3]).toMatchObject({ participants: 2, failures: ['c-3:disconnect'], closedBy: 'complete', aggregated: true });
    expect(s.metrics('r', { since: 120 }).map((m) => m.at)).toEqual([120, 130]);
    expect(s.metrics('r', { after: all[1].id }).map((m) => m.at)).toEqual([120, 130]);
    expect(s.metrics('r', { kind: 'step', limit: 1 }).map((m) => m.loss)).toEqual([4.25]);
    expect(s.metrics('other')).toEqual([]);

    const csv = metricsCsv(all).trimEnd().split('\r\n');
    expect(csv[0]).toBe('id,at,kind,clientId,round,step,globalStep,loss,tokens,extra');
    expect(csv).toHaveLength(5);
    expect(csv[2]).toBe(`${all[1].id},110,step,c-1,0,1,1,4.25,64,`);
    // JSON in a quoted cell, quotes doubled.
    expect(csv[4]).toBe(`${all[3].id},130,round,,0,,,,,"{""participants"":2,""failures"":[""c-3:disconnect""],""closedBy"":""complete"",""aggregated"":true}"`);
    s.close();
  });
});
