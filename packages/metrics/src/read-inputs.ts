// Readers for the two text formats of tuetschek/e2e-metrics `measure_scores.py`:
// a reference file (one reference per line, instances separated by blank lines) and a
// system-output file (one output per line).
import { pyLines, pyStrip } from './py-text';

/** Bad input to the metrics: mismatched counts or an empty reference group. */
export class MetricsInputError extends Error {
  readonly code = 'METRICS_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'MetricsInputError';
  }
}

/**
 * Reference groups as `read_lines(path, multi_ref=True)` builds them: each non-blank line joins
 * the current group and each blank line starts a new one (so two blank lines in a row make an
 * empty group, as in the official scorer; `checkInputs` rejects it). A trailing empty group is
 * dropped, and a file with no blank line at all is read as single-reference data: one group per line.
 */
export function readGroupedRefs(text: string): string[][] {
  const groups: string[][] = [[]];
  for (const raw of pyLines(text)) {
    const line = pyStrip(raw);
    if (line === '') groups.push([]);
    else groups[groups.length - 1].push(line);
  }
  if (groups[groups.length - 1].length === 0) groups.pop();
  if (groups.length === 1) return groups[0].map((ref) => [ref]);
  return groups;
}

/** System outputs, one per line (stripped); an empty line is an empty output. */
export function readHyps(text: string): string[] {
  return pyLines(text).map(pyStrip);
}

/** Throws MetricsInputError unless there is one non-empty reference group per hypothesis. */
export function checkInputs(refs: string[][], hyps: string[]): void {
  if (refs.length !== hyps.length) {
    throw new MetricsInputError(
      `got ${refs.length} reference groups but ${hyps.length} hypotheses; ` +
        'give exactly one group of references per hypothesis, in the same order',
    );
  }
  const empty = refs.findIndex((group) => group.length === 0);
  if (empty >= 0) {
    throw new MetricsInputError(
      `reference group ${empty} (0-based) is empty; every hypothesis needs at least one reference ` +
        '(in a reference file, two blank lines in a row make an empty group)',
    );
  }
}
