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

export function decodeTokens(ids: Iterable<number>): string {
  return decode(ids);
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
