// METEOR 1.5's word aligner (exact and stem stages), written from the behaviour of
// edu.cmu.meteor.aligner.Aligner: collect every candidate one-word match, fix the unambiguous
// ones, then beam-search (width 40) left to right over the reference for the alignment with the
// most matches, then the fewest chunks, then the smallest total position distance.
import { porter2 } from './porter2';

export const MODULE_EXACT = 0;
export const MODULE_STEM = 1;
const BEAM = 40;
// The aligner ranks paths by weighted match counts (exact 1, others 0.5), one counter per side.
// The counters are Java ints, so `count += 0.5` truncates: only exact matches move the ranking.
const RANK_GAIN = [2, 0]; // per match, both sides together

interface Match {
  refPos: number; // position in the reference (line2)
  testPos: number; // position in the hypothesis (line1)
  module: number;
}

interface Path {
  matches: (Match | null)[]; // by reference position
  testUsed: boolean[];
  refUsed: boolean[];
  score: number; // ranking match count, both sides
  chunks: number;
  idx: number;
  lastMatchEnd: number;
  distance: number;
}

const copyPath = (p: Path): Path => ({
  ...p,
  matches: p.matches.slice(),
  testUsed: p.testUsed.slice(),
  refUsed: p.refUsed.slice(),
});

// Stems repeat across references and segments; keep a bounded cache of them.
const stemCache = new Map<string, string>();
function stem(word: string): string {
  let s = stemCache.get(word);
  if (s === undefined) {
    if (stemCache.size >= 100_000) stemCache.clear();
    s = porter2(word);
    stemCache.set(word, s);
  }
  return s;
}

/** More matches first, then fewer chunks, then shorter distance (a stable sort keeps ties in order). */
const byRank = (x: Path, y: Path): number => y.score - x.score || x.chunks - y.chunks || x.distance - y.distance;

/** Adds match m to a path's counters (the aligner's bookkeeping, including its Java int arithmetic). */
function take(p: Path, m: Match): void {
  p.score += RANK_GAIN[m.module];
  if (p.lastMatchEnd !== -1 && m.testPos !== p.lastMatchEnd) p.chunks++;
  p.idx = m.refPos + 1;
  p.lastMatchEnd = m.testPos + 1;
}

export interface Alignment {
  /** The chosen match for each reference word, or null. */
  matches: (Match | null)[];
  chunks: number;
}

/** Aligns hypothesis words `test` to reference words `ref`. */
export function align(test: string[], ref: string[]): Alignment {
  const candidates: Match[][] = ref.map(() => []);
  const testCover = new Array<number>(test.length).fill(0);
  const refCover = new Array<number>(ref.length).fill(0);
  const add = (refPos: number, testPos: number, module: number): void => {
    candidates[refPos].push({ refPos, testPos, module });
    testCover[testPos]++;
    refCover[refPos]++;
  };

  for (let j = 0; j < ref.length; j++) for (let i = 0; i < test.length; i++) if (test[i] === ref[j]) add(j, i, MODULE_EXACT);
  // Identical sentences need exact matches only (this avoids beam-search errors).
  const identical = test.length === ref.length && test.every((w, i) => w === ref[i]);
  if (!identical) {
    const testStems = test.map(stem);
    const refStems = ref.map(stem);
    for (let j = 0; j < ref.length; j++) {
      for (let i = 0; i < test.length; i++) if (testStems[i] === refStems[j] && test[i] !== ref[j]) add(j, i, MODULE_STEM);
    }
  }

  // One-to-one matches whose words have no other candidate are fixed before the search.
  const start: Path = {
    matches: ref.map(() => null),
    testUsed: test.map(() => false),
    refUsed: ref.map(() => false),
    score: 0,
    chunks: 0,
    idx: 0,
    lastMatchEnd: -1,
    distance: 0,
  };
  candidates.forEach((list, j) => {
    if (list.length === 1 && refCover[j] === 1 && testCover[list[0].testPos] === 1) {
      start.matches[j] = list[0];
      start.refUsed[j] = true;
      start.testUsed[list[0].testPos] = true;
    }
  });

  let next: Path[] = [start];
  for (let cur = 0; cur <= ref.length; cur++) {
    const paths = next.sort(byRank);
    next = [];
    for (const path of paths.slice(0, BEAM)) {
      if (cur === ref.length) {
        if (path.lastMatchEnd !== -1) path.chunks++; // close the last chunk
        next.push(path);
      } else if (path.refUsed[cur]) {
        if (cur < path.idx) {
          next.push(path); // inside a match already taken
        } else if (path.matches[path.idx] !== null) {
          const m = path.matches[path.idx] as Match; // a fixed match: account for it now
          take(path, m);
          path.distance += Math.abs(m.refPos - m.testPos);
          next.push(path);
        }
      } else {
        for (const m of candidates[cur]) {
          if (path.refUsed[m.refPos] || path.testUsed[m.testPos]) continue;
          const branch = copyPath(path);
          branch.refUsed[m.refPos] = true;
          branch.testUsed[m.testPos] = true;
          branch.matches[cur] = m;
          take(branch, m);
          // METEOR adds this distance to the parent path (later branches and the skip inherit it).
          path.distance += Math.abs(m.refPos - m.testPos);
          next.push(branch);
        }
        // Or leave this reference word unmatched.
        if (path.lastMatchEnd !== -1) {
          path.chunks++;
          path.lastMatchEnd = -1;
        }
        path.idx++;
        next.push(path);
      }
    }
    if (next.length === 0) next.push(paths[0]); // METEOR warns and keeps going
  }
  const best = next.sort(byRank)[0];
  return { matches: best.matches, chunks: countChunks(best.matches) };
}

/** Chunks: maximal runs of matches adjacent and in the same order on both sides. */
function countChunks(matches: (Match | null)[]): number {
  let chunks = 0;
  let lastMatchEnd = -1;
  for (const m of matches) {
    if (m === null) {
      if (lastMatchEnd !== -1) {
        chunks++;
        lastMatchEnd = -1;
      }
    } else {
      if (lastMatchEnd !== -1 && m.testPos !== lastMatchEnd) chunks++;
      lastMatchEnd = m.testPos + 1;
    }
  }
  return lastMatchEnd !== -1 ? chunks + 1 : chunks;
}
