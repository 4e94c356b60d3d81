// The two shapes every loader, partitioner and batcher agree on.

/**
 * A training pair in plain text. The loss covers the completion only.
 * A plain-text (language-modelling) example is `{ context: '', completion: text }`:
 * encoded, its context is just [EOS], which GPT-2 reads as "start of text", so the loss
 * covers every token of the text. No extra flag is needed.
 * Loaders trim both fields; `encodeExample` adds the single leading space before the completion.
 */
export interface TextExample {
  context: string;
  completion: string;
}

/** GPT-2 BPE ids: context = BPE(context) + [EOS], completion = BPE(" " + completion) + [EOS]. */
export interface EncodedExample {
  context: number[];
  completion: number[];
}

/** What a parser returns: the good examples and how many bad lines `skipBad` dropped. */
export interface ParseResult {
  examples: TextExample[];
  skipped: number;
}

export interface ParseOptions {
  /** Skip malformed lines (and count them) instead of throwing on the first one. */
  skipBad?: boolean;
}

/** A malformed line in a data file. The message reads `file:line: problem`. */
export class DataFormatError extends Error {
  readonly code = 'DATA_FORMAT';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem} (fix or delete the line, or pass skipBad to skip bad lines)`);
    this.name = 'DataFormatError';
  }
}

/**
 * A short, order-sensitive hash (FNV-1a, 32 bits, hex) of encoded examples. A saved data order
 * (BatchIteratorState) is resumed only into the same data: same examples, same order.
 */
export function fingerprintExamples(examples: readonly EncodedExample[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 16;
    h = Math.imul(h, 0x01000193);
  };
  mix(examples.length);
  for (const e of examples) {
    mix(e.context.length);
    for (const t of e.context) mix(t);
    mix(e.completion.length);
    for (const t of e.completion) mix(t);
  }
  return `${examples.length}-${(h >>> 0).toString(16).padStart(8, '0')}`;
}
