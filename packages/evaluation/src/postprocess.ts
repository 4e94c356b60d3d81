// Generated tokens → one E2E output line, as SplitLoRA/LoRA's gpt2_decode.py makes it:
//   enc.decode(tokens).split('<|endoftext|>')[0].split('\n\n')[0].strip()
// (for E2E it runs without --tokenize and --lower, so no further tokenisation or casing).
// One addition: any line break left inside the output becomes a space, so the prediction
// file keeps exactly one line per MR (a lone "\n" would shift every later line in theirs).
import { decodeTokens } from '@splitlora/data';

const EOS_TEXT = '<|endoftext|>';

// Python's str.isspace() set: what `strip()` removes.
const PY_WS = '\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_EDGES = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'gu');
// The line boundaries of Python's str.splitlines(), which is how the official scorer reads lines.
const PY_LINE_BREAKS = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/gu;

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_WS_EDGES, '');
}

/** Replaces every Python line boundary with a space and strips: the text fits on one line of a file. */
export function oneLine(s: string): string {
  return pyStrip(s.replace(PY_LINE_BREAKS, ' '));
}

/** GPT-2 BPE decode with Python's semantics for a trailing partial character (U+FFFD), stateless. */
export function decodeGenerated(tokens: readonly number[]): string {
  return decodeTokens(tokens);
}

/** SplitLoRA/LoRA's post-processing of generated token ids (stop token included or not). */
export function postprocessE2E(tokens: readonly number[]): string {
  const text = decodeGenerated(tokens);
  return oneLine(text.split(EOS_TEXT)[0].split('\n\n')[0]);
}

/** The same cuts for a reference string (gpt2_decode.py applies them to the references too). */
export function cleanReference(ref: string): string {
  return oneLine(ref.split(EOS_TEXT)[0].split('\n\n')[0]);
}
