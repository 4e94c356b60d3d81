// Where a volunteer's training examples come from: a local file or the built-in sample shard.
// Everything here runs in the page; the text is tokenised locally and never uploaded.
import { DataFormatError, encodeExamples, parseDataFile, syntheticE2E, type EncodedExample } from '@splitlora/data';

export interface Shard {
  examples: EncodedExample[];
  /** One line for the page, e.g. "212 examples from train.jsonl (3 bad lines skipped)". */
  label: string;
}

/** Bigger files would freeze the tab while tokenising; a shard this size is plenty. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

function count(n: number): string {
  return `${n} example${n === 1 ? '' : 's'}`;
}

/** Parses a picked file (JSONL, E2E `MR||ref`, CSV or plain text, detected automatically). */
export async function shardFromFile(file: File, skipBad: boolean): Promise<Shard> {
  if (file.size > MAX_FILE_BYTES) {
    throw new Error(`${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB; pick a file under ${MAX_FILE_BYTES / 2 ** 20} MB (a slice of your data is enough)`);
  }
  const text = await file.text();
  let parsed;
  try {
    parsed = parseDataFile(text, file.name, 'auto', { skipBad });
  } catch (e) {
    if (e instanceof DataFormatError) {
      throw new Error(`${e.file}, line ${e.line}: ${e.problem}. Fix or delete that line, or tick "Skip malformed lines".`);
    }
    throw new Error(`${file.name} could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (parsed.examples.length === 0) {
    throw new Error(`${file.name} holds no training examples; expected JSONL {"prompt"|"context", "completion"}, E2E "MR||ref" lines, a CSV with mr,ref columns, or plain text`);
  }
  const skipped = parsed.skipped ? ` (${parsed.skipped} malformed line${parsed.skipped === 1 ? '' : 's'} skipped)` : '';
  return { examples: encodeExamples(parsed.examples), label: `${count(parsed.examples.length)} from ${file.name}${skipped}` };
}

/** `n` synthetic E2E-style pairs; different seeds give different shards. */
export function sampleShard(n: number, seed: number): Shard {
  const text = syntheticE2E({ n, seed });
  return { examples: encodeExamples(text), label: `${count(text.length)} from the built-in sample shard (seed ${seed})` };
}
