// The data every method shares: one pool (a file or the built-in synthetic set), a held-out
// set of whole MRs (no context is in both), and the training pool partitioned into client shards.
import {
  encodeExamples, makeRng, mixSeed, parsePartitionSpec, partition, shuffleInPlace, syntheticE2E,
  type DataFormat, type TextExample,
} from '@splitlora/data';
import { readDataFile } from '@splitlora/data/node';
import type { SimData } from './types';

export interface DataOptions {
  /** A data file; absent: the built-in synthetic E2E-style set. */
  data?: string;
  format?: DataFormat | 'auto';
  /** Examples of the synthetic set (ignored with a file). */
  examples: number;
  /** Held-out examples, taken as whole MRs from the pool (ignored with evalData). */
  heldout: number;
  /** A separate held-out file (e.g. the E2E dev set). */
  evalData?: string;
  partition: string;
  clients: number;
  seed: number;
}

/** Both ends trimmed, as the page's JSONL loader does, so Node and browser tabs tokenise the same text. */
function tidy(xs: readonly TextExample[]): TextExample[] {
  return xs.map((e) => ({ context: e.context.trim(), completion: e.completion.trim() }));
}

/**
 * Splits off about `count` examples as whole context groups (seeded), so that no MR is both
 * trained on and scored. Returns [train, heldout].
 */
export function splitHeldout(examples: readonly TextExample[], count: number, seed: number): [TextExample[], TextExample[]] {
  if (count <= 0) return [[...examples], []];
  const groups = new Map<string, number[]>();
  examples.forEach((e, i) => {
    const g = groups.get(e.context);
    if (g) g.push(i);
    else groups.set(e.context, [i]);
  });
  const order = shuffleInPlace([...groups.values()], makeRng(mixSeed(seed, 0x4e1d)));
  const held = new Set<number>();
  for (const g of order) {
    if (held.size >= count) break;
    for (const i of g) held.add(i);
  }
  if (held.size >= examples.length) throw new Error(`--heldout ${count} leaves no training examples out of ${examples.length}; lower --heldout`);
  return [examples.filter((_, i) => !held.has(i)), examples.filter((_, i) => held.has(i))];
}

/** Serialises a shard as JSONL {context, completion}: how a browser tab receives its data. */
export function toJsonl(examples: readonly TextExample[]): string {
  return examples.map((e) => JSON.stringify({ context: e.context, completion: e.completion })).join('\n') + '\n';
}

export async function loadSimData(o: DataOptions): Promise<SimData> {
  const spec = parsePartitionSpec(o.partition);
  let pool: TextExample[];
  let source: string;
  if (o.data) {
    pool = tidy((await readDataFile(o.data, o.format ?? 'auto')).examples);
    source = o.data;
  } else {
    pool = tidy(syntheticE2E({ n: o.examples, seed: o.seed }));
    source = `built-in synthetic E2E-style set (${o.examples} examples, seed ${o.seed})`;
  }
  if (pool.length === 0) throw new Error(`no examples in ${source}`);
  let train: TextExample[];
  let held: TextExample[];
  if (o.evalData) {
    train = pool;
    held = tidy((await readDataFile(o.evalData, 'auto')).examples).slice(0, Math.max(o.heldout, 1));
  } else {
    [train, held] = splitHeldout(pool, o.heldout, o.seed);
  }
  const parts = partition(train, o.clients, spec, o.seed);
  const empty = parts.findIndex((p) => p.length === 0);
  if (empty >= 0) throw new Error(`partition ${o.partition} left client ${empty} with no examples (${train.length} training examples for ${o.clients} clients); use more data or fewer clients`);
  const shardText = parts.map((idx) => idx.map((i) => train[i]));
  return { shards: shardText.map((s) => encodeExamples(s)), shardText, heldout: encodeExamples(held), heldoutText: held, source };
}
