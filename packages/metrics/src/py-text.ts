// Python string semantics the official scorer relies on, so that whitespace and line breaks
// are read exactly as `measure_scores.py` reads them.

/** The characters for which Python's `str.isspace()` is true (what `\s`, `strip()` and `split()` use). */
const PY_WS_CLASS = '\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export const PY_WS_RUN = new RegExp(`[${PY_WS_CLASS}]+`, 'gu');
const PY_WS_EDGES = new RegExp(`^[${PY_WS_CLASS}]+|[${PY_WS_CLASS}]+$`, 'gu');

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_WS_EDGES, '');
}

/** Python's `s.split()` (no argument): split on whitespace runs, drop empty pieces. */
export function pySplit(s: string): string[] {
  const t = pyStrip(s);
  return t === '' ? [] : t.split(PY_WS_RUN);
}

// The line boundaries of Python's `str.splitlines()`, which is how `codecs.open(...)` iterates a file.
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;

/**
 * Lines as Python's `for line in codecs.open(path, 'rb', 'UTF-8')` yields them (without their ends).
 * A leading byte-order mark is dropped (Python would keep it inside the first line).
 */
export function pyLines(text: string): string[] {
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  const lines = body.split(LINE_BREAK);
  // A final line break ends the last line rather than starting an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
