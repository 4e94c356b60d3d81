// The word tokenization of the lora-format E2E files, for raw text from the official CSV:
//   "Aromi isn't family-friendly, £20-25."  ->  "Aromi isn 't family - friendly , £ 20 - 25 ."
// Written by comparing official-csv/devset.csv with lora-format/valid.txt: it reproduces
// 4,670 of the 4,672 dev refs. (test.txt splits "n't" Penn-style instead, "is n't"; we follow
// valid.txt.) Unicode letters count as word characters, as in Python's `\w`.

const W = '[\\p{L}\\p{N}_]';
const INTRA_HYPHEN = new RegExp(`(${W})-(?=${W})`, 'gu'); // family-friendly -> family - friendly
const OTHER_PUNCT = /([^\p{L}\p{N}_\s'.-])/gu; // , ! ? £ ( ) ... but not ' - .
const TRAILING_DOTS = /(\.+)(?=\s|$)/g; // "rating.." -> "rating .." but "5.5" stays
const OPEN_QUOTE = /(^|\s)'/g; // 'Aromi' -> ' Aromi '
const CLOSE_QUOTE = /'(?=\s|$)/g;
const CLITIC = new RegExp(`(${W})'(${W})`, 'gu'); // there's -> there 's

export function tokenizeE2E(text: string): string {
  return text
    .replace(INTRA_HYPHEN, '$1 - ')
    .replace(OTHER_PUNCT, ' $1 ')
    .replace(TRAILING_DOTS, ' $1 ')
    .replace(OPEN_QUOTE, "$1' ")
    .replace(CLOSE_QUOTE, " '")
    .replace(CLITIC, "$1 '$2")
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}
