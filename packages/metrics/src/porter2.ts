// The Snowball English ("Porter2") stemmer, written from the algorithm's published definition
// (snowballstem.org/algorithms/english/stemmer.html), in the version METEOR 1.5 bundles.
// Expects lowercase input; characters outside a-z count as consonants.

const isVowel = (c: string | undefined): boolean => c !== undefined && 'aeiouy'.includes(c);

/** Whole words with a fixed stem (checked before anything else). */
const EXCEPTIONS: Record<string, string> = {
  skis: 'ski', skies: 'sky', dying: 'die', lying: 'lie', tying: 'tie', idly: 'idl', gently: 'gentl',
  ugly: 'ugli', early: 'earli', only: 'onli', singly: 'singl',
  sky: 'sky', news: 'news', howe: 'howe', atlas: 'atlas', cosmos: 'cosmos', bias: 'bias', andes: 'andes',
};
/** Words left alone once step 1a has run. */
const AFTER_1A = new Set(['inning', 'outing', 'canning', 'herring', 'earring', 'proceed', 'exceed', 'succeed']);

/** Does w[0..end) end in a short syllable? */
function endsShort(w: string, end: number): boolean {
  if (end >= 3 && !'aeiouywxY'.includes(w[end - 1]) && isVowel(w[end - 2]) && !isVowel(w[end - 3])) return true;
  return end === 2 && isVowel(w[0]) && !isVowel(w[1]);
}

/** Start of the region after the first non-vowel that follows a vowel, searching from `from`. */
function regionStart(w: string, from: number): number {
  let i = from;
  while (i < w.length && !isVowel(w[i])) i++;
  while (i < w.length && isVowel(w[i])) i++;
  return i < w.length ? i + 1 : w.length;
}

/** The longest of `suffixes` that `w` ends with, or undefined. */
function longestSuffix(w: string, suffixes: string[]): string | undefined {
  let best: string | undefined;
  for (const s of suffixes) if (w.endsWith(s) && (best === undefined || s.length > best.length)) best = s;
  return best;
}

const STEP2: Record<string, string> = {
  tional: 'tion', enci: 'ence', anci: 'ance', abli: 'able', entli: 'ent', izer: 'ize', ization: 'ize',
  ational: 'ate', ation: 'ate', ator: 'ate', alism: 'al', aliti: 'al', alli: 'al', fulness: 'ful',
  ousli: 'ous', ousness: 'ous', iveness: 'ive', iviti: 'ive', biliti: 'ble', bli: 'ble', ogi: 'og',
  fulli: 'ful', lessli: 'less', li: '',
};
const STEP3: Record<string, string> = {
  tional: 'tion', ational: 'ate', alize: 'al', icate: 'ic', iciti: 'ic', ical: 'ic', ful: '', ness: '', ative: '',
};
const STEP4 = 'al ance ence er ic able ible ant ement ment ent ism ate iti ous ive ize ion'.split(' ');

export function porter2(word: string): string {
  if (Object.hasOwn(EXCEPTIONS, word)) return EXCEPTIONS[word];
  if (word.length < 3) return word;

  // Prelude: drop a leading apostrophe; mark consonant y (initial, or after a vowel) as Y.
  let w = word.startsWith("'") ? word.slice(1) : word;
  let yFound = false;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 'y' && (i === 0 || isVowel(w[i - 1]))) {
      w = `${w.slice(0, i)}Y${w.slice(i + 1)}`;
      yFound = true;
    }
  }
  const prefix = ['gener', 'commun', 'arsen'].find((p) => w.startsWith(p));
  const p1 = prefix !== undefined ? prefix.length : regionStart(w, 0);
  const p2 = regionStart(w, p1);
  const inR1 = (suffix: string): boolean => w.length - suffix.length >= p1;
  const inR2 = (suffix: string): boolean => w.length - suffix.length >= p2;
  const replace = (suffix: string, by: string): void => {
    w = w.slice(0, w.length - suffix.length) + by;
  };

  // Step 1a: possessives and plurals.
  const apos = longestSuffix(w, ["'s'", "'s", "'"]);
  if (apos !== undefined) replace(apos, '');
  const s1a = longestSuffix(w, ['sses', 'ied', 'ies', 'ss', 'us', 's']);
  if (s1a === 'sses') replace(s1a, 'ss');
  else if (s1a === 'ied' || s1a === 'ies') replace(s1a, w.length - 3 >= 2 ? 'i' : 'ie');
  else if (s1a === 's') {
    // Delete if a vowel comes before the letter preceding the s ("gaps" -> "gap", "gas" stays).
    if ([...w.slice(0, -2)].some(isVowel)) replace('s', '');
  }

  if (!AFTER_1A.has(w)) {
    // Step 1b: -eed(ly) in R1 -> -ee; -ed, -ing(ly), -edly after a vowel are removed, then tidied.
    const s1b = longestSuffix(w, ['eed', 'eedly', 'ed', 'edly', 'ing', 'ingly']);
    if (s1b === 'eed' || s1b === 'eedly') {
      if (inR1(s1b)) replace(s1b, 'ee');
    } else if (s1b !== undefined && [...w.slice(0, w.length - s1b.length)].some(isVowel)) {
      replace(s1b, '');
      if (w.endsWith('at') || w.endsWith('bl') || w.endsWith('iz')) w += 'e';
      else if (['bb', 'dd', 'ff', 'gg', 'mm', 'nn', 'pp', 'rr', 'tt'].some((d) => w.endsWith(d))) w = w.slice(0, -1);
      else if (p1 === w.length && endsShort(w, w.length)) w += 'e';
    }

    // Step 1c: final y after a consonant that is not the first letter -> i.
    const n = w.length;
    if (n > 2 && (w[n - 1] === 'y' || w[n - 1] === 'Y') && !isVowel(w[n - 2])) w = `${w.slice(0, -1)}i`;

    // Step 2: derivational suffixes in R1.
    const s2 = longestSuffix(w, Object.keys(STEP2));
    if (s2 !== undefined && inR1(s2)) {
      const before = w[w.length - s2.length - 1];
      if (s2 === 'ogi') {
        if (before === 'l') replace(s2, 'og');
      } else if (s2 === 'li') {
        if (before !== undefined && 'cdeghkmnrt'.includes(before)) replace(s2, '');
      } else replace(s2, STEP2[s2]);
    }

    // Step 3: more suffixes in R1 (-ative only in R2).
    const s3 = longestSuffix(w, Object.keys(STEP3));
    if (s3 !== undefined && inR1(s3) && (s3 !== 'ative' || inR2(s3))) replace(s3, STEP3[s3]);

    // Step 4: suffixes in R2 (-ion only after s or t).
    const s4 = longestSuffix(w, STEP4);
    if (s4 !== undefined && inR2(s4)) {
      const before = w[w.length - s4.length - 1];
      if (s4 !== 'ion' || before === 's' || before === 't') replace(s4, '');
    }

    // Step 5: final e (in R2, or in R1 after a long syllable) and ll in R2.
    if (w.endsWith('e')) {
      if (inR2('e') || (inR1('e') && !endsShort(w, w.length - 1))) replace('e', '');
    } else if (w.endsWith('l') && inR2('l') && w[w.length - 2] === 'l') replace('l', '');
  }

  return yFound ? w.replace(/Y/g, 'y') : w;
}
