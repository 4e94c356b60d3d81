// Test examples → one entry per unique MR with all its references, in first-appearance order:
// the grouping of SplitLoRA/LoRA's gpt2_decode.py, which writes e2e_ref.txt (and the
// prediction file, one line per MR) in this order.
import type { TextExample } from '@splitlora/data';
import { cleanReference } from './postprocess';

export interface MrGroups {
  /** Unique MRs (example contexts), in the order they first appear. */
  mrs: string[];
  /** refs[i]: every reference of mrs[i], in file order. */
  refs: string[][];
}

export function groupByMr(examples: readonly TextExample[]): MrGroups {
  const index = new Map<string, number>();
  const mrs: string[] = [];
  const refs: string[][] = [];
  for (const { context, completion } of examples) {
    let i = index.get(context);
    if (i === undefined) {
      i = mrs.length;
      index.set(context, i);
      mrs.push(context);
      refs.push([]);
    }
    refs[i].push(cleanReference(completion));
  }
  return { mrs, refs };
}

/** The official scorer's reference file: each group's lines, then a blank line (as gpt2_decode.py writes it). */
export function formatGroupedRefs(refs: readonly (readonly string[])[]): string {
  return refs.map((group) => group.map((r) => r + '\n').join('') + '\n').join('');
}

/** One item per line (the prediction and MR files). */
export function formatLines(lines: readonly string[]): string {
  return lines.map((l) => l + '\n').join('');
}
