// METEOR 1.5's `-norm` text normalisation for English with punctuation kept (what coco-caption
// runs: `-l en -norm`), followed by lowercasing. Written from the behaviour of
// edu.cmu.meteor.util.Normalizer: a Moses-style tokeniser plus quote/dash normalisation and
// splitting of hyphenated words.

// METEOR's "letter" ranges: Latin-1 and Latin Extended-A letters, Cyrillic, phonetic extensions.
const ALPHA = 'A-Za-z\\u0160\\u017D\\u0161\\u017E\\u0178\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u017E\\u0400-\\u04FF\\u0500-\\u0527\\uA640-\\uA66E\\uA67E-\\uA697\\u1D00-\\u1D7F';
const ALNUM = `0-9${ALPHA}`;
// Java's \s (ASCII only).
const JAVA_S = ' \\t\\n\\x0B\\f\\r';

const SEP_OTHER = new RegExp(`([^${ALNUM}${JAVA_S}.'\`,\\-\\u2018\\u2019])`, 'g');
const RM_DASH = new RegExp(`([${ALNUM}.])-([${ALNUM}])`, 'g');
const CONT = [
  [new RegExp(`([^${ALPHA}])'([^${ALPHA}])`, 'g'), "$1 ' $2"],
  [new RegExp(`([^${ALPHA}0-9])'([${ALPHA}])`, 'g'), "$1 ' $2"],
  [new RegExp(`([${ALPHA}])'([^${ALPHA}])`, 'g'), "$1 ' $2"],
  [new RegExp(`([${ALPHA}])'([${ALPHA}])`, 'g'), "$1 '$2"], // contractions split before the apostrophe
  [/([0-9])'(s)/g, "$1 '$2"], // 1990's
] as const;
const WHITE = /[ \u2000-\u200A\u202F\u205F\u3000\u00A0]+/g;
const HAS_ALPHA = new RegExp(`[${ALPHA}]`);

// Moses's English non-breaking prefixes that can fire here. The input is lowercased by the PTB
// step first, so the capitalised entries of the list (titles, single capitals) never match.
const NONBREAKING = new Set(['v', 'vs', 'rev']);
const NONBREAKING_BEFORE_NUMBER = new Set(['pp']);

/** Java's String.trim(): strips every character up to U+0020. */
export const javaTrim = (s: string): string => s.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');

/** Normalises one line as METEOR's `-norm` does for English, then lowercases it. */
export function meteorNormalize(line: string): string {
  let s = ` ${line} `;
  s = s.replace(SEP_OTHER, ' $1 ');

  // Protect runs of dots ("...") from the dot splitting below.
  s = s.replace(/\.([.]+)/g, ' DOTMULTI$1');
  while (s.includes('DOTMULTI.')) {
    s = s.replace(/DOTMULTI\.([^.])/g, 'DOTDOTMULTI $1');
    s = s.split('DOTMULTI.').join('DOTDOTMULTI');
  }

  // Commas are split off unless they sit between two digits.
  s = s.replace(/([^0-9]),([^0-9])/g, '$1 , $2');
  s = s.replace(/([0-9]),([^0-9])/g, '$1 , $2');
  s = s.replace(/([^0-9]),([0-9])/g, '$1 , $2');

  s = s.replace(/[`\u2018\u2019]/g, "'");
  s = s.replace(/[\u201C\u201D]|''/g, ' " ');
  s = s.split('\u2013').join('-').split('--').join('-');
  // "family-friendly" -> "family friendly" (non-overlapping, so "a-b-c" -> "a b-c", as in METEOR).
  s = s.replace(RM_DASH, '$1 $2');
  for (const [re, by] of CONT) s = s.replace(re, by);

  // A word ending in "." loses it unless it is a known abbreviation, is dotted like "u.s."
  // (then all dots go), or is followed by a lowercase word.
  const words = s.split(/[ \t\n\r\f]+/).filter((w) => w !== '');
  s = words
    .map((w, i) => {
      if (w.length <= 1 || !w.endsWith('.')) return w;
      const pre = w.slice(0, -1);
      const next = words[i + 1];
      if (pre.includes('.') && HAS_ALPHA.test(pre)) return w.split('.').join('');
      if (NONBREAKING.has(pre) || (next !== undefined && /^[a-z]/.test(next))) return w;
      if (NONBREAKING_BEFORE_NUMBER.has(pre) && next !== undefined && /^[0-9]+/.test(next)) return w;
      return `${pre} .`;
    })
    .map((w) => `${w} `)
    .join('');

  while (s.includes('DOTDOTMULTI')) s = s.split('DOTDOTMULTI').join('DOTMULTI.');
  s = s.split('DOTMULTI').join('.');
  return javaTrim(s.replace(WHITE, ' ')).toLowerCase();
}
