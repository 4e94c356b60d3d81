// GPT-2 BPE (r50k_base) and SplitLoRA's example encoding.
import { decode, encode } from 'gpt-tokenizer/encoding/r50k_base';
import type { EncodedExample, TextExample } from './examples';

/** `<|endoftext|>`: GPT-2's only special token. SplitLoRA appends it to context and completion. */
export const EOS = 50256;
export const VOCAB_SIZE = 50257;

// Treat "<|endoftext|>" in data as ordinary text, as the Python GPT-2 encoder does
// (gpt-tokenizer would otherwise throw on it).
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function encodeText(s: string): number[] {
  return encode(s, PLAIN_TEXT);
}

// Token 187 is the lone byte 0xFF, never valid in UTF-8. gpt-tokenizer decodes through one shared
// streaming TextDecoder, so the bytes of an unfinished character would be held back and leak into
// the next call; appending 0xFF flushes them as U+FFFD (Python's errors='replace'), and the U+FFFD
// of the 0xFF itself is dropped.
const BYTE_FF = 187;

/** GPT-2 BPE decode, stateless: a trailing partial character becomes U+FFFD. */
export function decodeTokens(ids: Iterable<number>): string {
  decode([BYTE_FF]); // drop anything an earlier caller left in the shared decoder
  return decode([...ids, BYTE_FF]).slice(0, -1);
}

/**
 * SplitLoRA's encoding (gpt2_encode.py --add_bos --add_eos):
 * context = BPE(context) + [EOS]; completion = BPE(" " + completion) + [EOS].
 * Pass the trimmed strings the loaders produce: lora-format refs end in a space that
 * SplitLoRA strips before encoding. With that, all 9,365 valid/test lines match its ids.
 */
export function encodeExample(context: string, completion: string): EncodedExample {
  return {
    context: [...encodeText(context), EOS],
    completion: [...encodeText(' ' + completion), EOS],
  };
}

export function encodeExamples(examples: readonly TextExample[]): EncodedExample[] {
  return examples.map((e) => encodeExample(e.context, e.completion));
}
