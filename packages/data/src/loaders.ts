// Pure parsers from file text to TextExamples. No I/O here: files-node.ts reads files in
// Node, and the browser passes text it fetched or a user picked.
// Every parser trims both fields (SplitLoRA strips each line, which drops the trailing space
// of lora-format refs) and skips blank lines. A bad line throws a DataFormatError naming
// file:line, or with { skipBad: true } is skipped and counted.
import { parse as parseCsv } from 'csv-parse/browser/esm/sync';
import { DataFormatError, type ParseOptions, type ParseResult, type TextExample } from './examples';
import { csvMrToLora } from './mr';
import { tokenizeE2E } from './word-tokenize';

export type DataFormat = 'e2e' | 'csv' | 'jsonl' | 'text';
/** What a command's --format accepts: a DataFormat, or 'auto' (detectFormat picks). */
export const DATA_FORMATS = ['e2e', 'csv', 'jsonl', 'text', 'auto'] as const;

type LineResult = TextExample | { problem: string };

function isProblem(r: LineResult): r is { problem: string } {
  return 'problem' in r;
}

/** Runs `parseLine` on each non-blank line; numbers lines from 1. */
function parseLines(
  text: string,
  file: string,
  opts: ParseOptions,
  parseLine: (line: string) => LineResult,
): ParseResult {
  const examples: TextExample[] = [];
  let skipped = 0;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const r = parseLine(line);
    if (!isProblem(r)) examples.push(r);
    else if (opts.skipBad) skipped++;
    else throw new DataFormatError(file, i + 1, r.problem);
  });
  return { examples, skipped };
}

/** lora-format E2E: one `MR||ref` pair per line (LoRA / SplitLoRA valid.txt, test.txt). */
export function parseE2EText(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  return parseLines(text, file, opts, (line) => {
    const parts = line.split('||');
    if (parts.length !== 2) {
      const found = parts.length === 1 ? 'no "||"' : `${parts.length - 1} "||"`;
      return { problem: `expected "MR||ref", found ${found}` };
    }
    const [context, completion] = parts.map((p) => p.trim());
    if (!context) return { problem: 'expected "MR||ref", found an empty MR' };
    if (!completion) return { problem: 'expected "MR||ref", found an empty ref' };
    return { context, completion };
  });
}

/** JSON lines of `{context, completion}` or `{prompt, completion}` text (other keys ignored). */
export function parseJsonl(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  return parseLines(text, file, opts, (line) => {
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      return { problem: `invalid JSON (${(e as Error).message})` };
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return { problem: 'expected a JSON object' };
    const rec = o as Record<string, unknown>;
    const context = rec.context ?? rec.prompt;
    if (Array.isArray(context) || Array.isArray(rec.completion)) {
      return { problem: 'found token ids, expected text (use the *_formatted.jsonl file)' };
    }
    if (typeof context !== 'string' || typeof rec.completion !== 'string') {
      const keys = Object.keys(rec).join(', ') || 'none';
      return { problem: `expected {"context" or "prompt": string, "completion": string}, found keys: ${keys}` };
    }
    return { context: context.trim(), completion: rec.completion.trim() };
  });
}

/**
 * Plain text for language modelling: one example per non-blank line, the loss on all of it
 * (`{ context: '', completion: line }`). Lines, not paragraphs, so that a file with no blank
 * lines never becomes one huge, truncated example.
 */
export function parsePlainText(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  return parseLines(text, file, opts, (line) => ({ context: '', completion: line.trim() }));
}

/**
 * The official E2E CSV (`mr,ref` header, any case; devset.csv, testset_w_refs.csv). MRs become
 * lora-format MRs and refs are word-tokenized like lora-format (see csvMrToLora, tokenizeE2E),
 * so CSV and lora-format data train the same model. A file with an `mr` column but no `ref`
 * column (testset.csv) gives prompts with empty completions, for generation only.
 */
export function parseE2ECsv(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  let rows: { record: string[]; info: { lines: number }; raw: string }[];
  let csvSkipped = 0;
  try {
    rows = parseCsv(text, {
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: !!opts.skipBad,
      on_skip: () => void csvSkipped++,
    }) as unknown as typeof rows;
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new DataFormatError(file, err.lines ?? 1, `invalid CSV (${err.message})`);
  }
  if (rows.length === 0) return { examples: [], skipped: csvSkipped };

  const header = rows[0].record.map((h) => h.trim().toLowerCase());
  const mrCol = header.indexOf('mr');
  const refCol = header.indexOf('ref');
  if (mrCol < 0) {
    throw new DataFormatError(file, 1, `expected a header with columns "mr" and "ref", found "${rows[0].record.join(',')}"`);
  }
  const examples: TextExample[] = [];
  let skipped = csvSkipped;
  for (const { record, info, raw } of rows.slice(1)) {
    const r = csvRow(record[mrCol], refCol < 0 ? '' : record[refCol], refCol >= 0);
    if (!isProblem(r)) examples.push(r);
    else if (opts.skipBad) skipped++;
    // info.lines is the record's last line; count back over newlines inside quoted fields.
    else throw new DataFormatError(file, info.lines - (raw.trimEnd().match(/\n/g)?.length ?? 0), r.problem);
  }
  return { examples, skipped };
}

function csvRow(mr: string | undefined, ref: string | undefined, needRef: boolean): LineResult {
  if (mr === undefined || mr.trim() === '') return { problem: 'expected an MR in column "mr", found none' };
  const context = csvMrToLora(mr);
  if (typeof context !== 'string') return context;
  const completion = tokenizeE2E(ref ?? '');
  if (needRef && !completion) return { problem: 'expected a ref in column "ref", found none' };
  return { context, completion };
}

/** Picks a format from the file name, then from the first non-blank line. */
export function detectFormat(text: string, file: string): DataFormat {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.json')) return 'jsonl';
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (first.trimStart().startsWith('{')) return 'jsonl';
  if (first.includes('||')) return 'e2e';
  return 'text';
}

const PARSERS: Record<DataFormat, (text: string, file: string, opts?: ParseOptions) => ParseResult> = {
  e2e: parseE2EText,
  csv: parseE2ECsv,
  jsonl: parseJsonl,
  text: parsePlainText,
};

export function parseDataFile(
  text: string,
  file: string,
  format: DataFormat | 'auto' = 'auto',
  opts: ParseOptions = {},
): ParseResult {
  const chosen = format === 'auto' ? detectFormat(text, file) : format;
  const parser = PARSERS[chosen];
  if (!parser) throw new Error(`unknown data format "${format}": use e2e, csv, jsonl, text or auto`);
  return parser(text, file, opts);
}
