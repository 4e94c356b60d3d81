// Seeded splits of one data set into client shards (lists of example indices).
//   iid          shuffle, then contiguous equal-ish shards (sizes differ by at most 1)
//   contiguous   no shuffle: contiguous thirds/quarters in file order, as SplitLoRA's
//                train0/1/2.jsonl appear to be
//   attr:SLOT    non-IID: each value of an MR slot (eatType, area, ...) goes whole to one client
//   dirichlet:A[:SLOT]  each slot value's examples split across clients by Dirichlet(A)
//                proportions; small A = skewed, large A = near IID. SLOT defaults to eatType.
// Examples whose MR lacks the slot (or that have no MR) share the value "(none)".
// Non-IID splits give every client at least one example whenever there are enough examples.
// Indices within a shard are ascending.
import type { TextExample } from './examples';
import { canonicalSlot, parseMr } from './mr';
import { makeRng, permutation, sampleDirichlet, shuffleInPlace, type Rng } from './rng';

export type PartitionSpec = 'iid' | 'contiguous' | { attr: string } | { dirichlet: number; attr?: string };

export const DEFAULT_DIRICHLET_ATTR = 'eatType';
const NONE = '(none)';

export function parsePartitionSpec(s: string): PartitionSpec {
  const [kind, arg, attr] = s.trim().split(':');
  if (kind === 'iid' && arg === undefined) return 'iid';
  if (kind === 'contiguous' && arg === undefined) return 'contiguous';
  if (kind === 'attr' && arg && attr === undefined) return { attr: canonicalAttr(arg) };
  if (kind === 'dirichlet' && arg !== undefined) {
    const alpha = Number(arg);
    if (!(alpha > 0) || !Number.isFinite(alpha)) throw new Error(`dirichlet alpha must be a number > 0, got "${arg}"`);
    return { dirichlet: alpha, attr: canonicalAttr(attr ?? DEFAULT_DIRICHLET_ATTR) };
  }
  throw new Error(`unknown partition "${s}": use iid, contiguous, attr:SLOT (e.g. attr:eatType) or dirichlet:ALPHA[:SLOT]`);
}

// Validates the slot name early (throws on typos) but keeps the user's spelling.
function canonicalAttr(attr: string): string {
  canonicalSlot(attr);
  return attr;
}

export function partition(
  examples: readonly TextExample[],
  nClients: number,
  spec: PartitionSpec,
  seed: number,
): number[][] {
  if (!Number.isInteger(nClients) || nClients < 1) throw new Error(`nClients must be an integer >= 1, got ${nClients}`);
  const rng = makeRng(seed);
  let shards: number[][];
  if (spec === 'iid') shards = contiguousShards(permutation(examples.length, rng), nClients);
  else if (spec === 'contiguous') shards = contiguousShards(examples.map((_, i) => i), nClients);
  else if ('dirichlet' in spec) {
    if (!(spec.dirichlet > 0)) throw new Error(`dirichlet alpha must be > 0, got ${spec.dirichlet}`);
    shards = dirichletShards(groupBy(examples, spec.attr ?? DEFAULT_DIRICHLET_ATTR, rng), nClients, spec.dirichlet, rng);
  } else shards = attrShards(groupBy(examples, spec.attr, rng), nClients, rng);
  if (spec !== 'iid' && spec !== 'contiguous') fillEmptyClients(shards);
  return shards.map((s) => s.sort((a, b) => a - b));
}

function contiguousShards(order: number[], k: number): number[][] {
  return Array.from({ length: k }, (_, c) =>
    order.slice(Math.floor((c * order.length) / k), Math.floor(((c + 1) * order.length) / k)),
  );
}

/** Example indices per slot value, each group shuffled, groups in first-seen order. */
function groupBy(examples: readonly TextExample[], attr: string, rng: Rng): number[][] {
  const slot = canonicalSlot(attr);
  const groups = new Map<string, number[]>();
  examples.forEach((e, i) => {
    const v = parseMr(e.context)[slot] ?? NONE;
    const g = groups.get(v);
    if (g) g.push(i);
    else groups.set(v, [i]);
  });
  return [...groups.values()].map((g) => shuffleInPlace(g, rng));
}

/** Whole groups to clients: largest first, each to the least-loaded client (seeded ties). */
function attrShards(groups: number[][], k: number, rng: Rng): number[][] {
  // Fewer values than clients: halve the largest group until each client can get one.
  while (groups.length < k) {
    groups.sort((a, b) => b.length - a.length);
    if (groups[0].length < 2) break;
    const big = groups.shift()!;
    groups.push(big.slice(0, big.length >> 1), big.slice(big.length >> 1));
  }
  shuffleInPlace(groups, rng).sort((a, b) => b.length - a.length); // stable: equal sizes stay shuffled
  const clientOrder = permutation(k, rng); // who wins ties depends on the seed
  const shards: number[][] = Array.from({ length: k }, () => []);
  for (const g of groups) {
    const c = clientOrder.reduce((best, c) => (shards[c].length < shards[best].length ? c : best));
    shards[c].push(...g);
  }
  return shards;
}

/** Each group split by its own Dirichlet(alpha) proportions (cumulative rounding). */
function dirichletShards(groups: number[][], k: number, alpha: number, rng: Rng): number[][] {
  const shards: number[][] = Array.from({ length: k }, () => []);
  for (const g of groups) {
    const p = sampleDirichlet(alpha, k, rng);
    let cum = 0;
    let start = 0;
    p.forEach((pc, c) => {
      cum += pc;
      const end = c === k - 1 ? g.length : Math.round(cum * g.length);
      shards[c].push(...g.slice(start, end));
      start = Math.max(start, end);
    });
  }
  return shards;
}

/** Moves one example at a time from the largest shard into each empty one, while possible. */
function fillEmptyClients(shards: number[][]): void {
  for (const empty of shards.filter((s) => s.length === 0)) {
    const largest = shards.reduce((a, b) => (b.length > a.length ? b : a));
    if (largest.length < 2) return;
    empty.push(largest.pop()!);
  }
}
