// A re-implementation of the Stanford PTBTokenizer (CoreNLP 3.4.1, default options plus
// tokenizeNLs) that coco-caption's tokenizer runs. Like the JFlex scanner it emulates, at each
// position every rule is tried; the longest match wins (trailing context counts towards its
// length but is not consumed) and ties go to the earlier rule.
// Left out, as they never occur in E2E-style text: SGML tags (<b>, <!-- -->) and the Asian
// smiley whose pattern in the lexer is itself broken.
import * as P from './ptb-patterns';

/** Token text to emit (null: emit nothing) and how many characters the rule consumes. */
type Action = (text: string) => { token: string | null; consumed?: number };

interface Rule {
  /** Sticky regexes; group 1, when present, is the token text and the rest is trailing context. */
  res: RegExp[];
  action: Action;
}

/** Marks a line break in the token stream. */
export const NEWLINE_TOKEN = '*NL*';

const keep: Action = (t) => ({ token: t });
const as = (token: string): Action => () => ({ token });
const skip: Action = () => ({ token: null });
const noSoftHyphen: Action = (t) => {
  const s = t.replace(/\u00AD/g, '');
  return { token: s === '' ? '-' : s };
};
// The token, then its final character re-read as the next token (the lexer's yypushback(1)).
const pushBackLast: Action = (t) => ({ token: t, consumed: t.length - 1 });
const ampNormal: Action = (t) => ({ token: t.replace(/&amp;/gi, '&') });

/** PTB3 "latex" quotes: ` `` for opening quotes, ' '' for closing ones. */
function latexQuotes(tok: string, probablyLeft: boolean): string {
  let s = probablyLeft
    ? tok.replace(/&apos;|'/g, '`').replace(/"|&quot;/g, '``')
    : tok.replace(/&apos;|'/g, "'").replace(/"|&quot;/g, "''");
  s = s.replace(/[\u0091\u2018\u201B\u2039]/g, '`').replace(/[\u0092\u2019\u203A]/g, "'");
  return s.replace(/[\u0093\u201C\u00AB]/g, '``').replace(/[\u0094\u201D\u00BB]/g, "''");
}
const quote =
  (probablyLeft: boolean): Action =>
  (t) => ({ token: latexQuotes(t, probablyLeft) });

const parens = (t: string): string => t.replace(/\(/g, '-LRB-').replace(/\)/g, '-RRB-');

const FRACTIONS: Record<string, string> = {
  '\u00BC': '1/4',
  '\u00BD': '1/2',
  '\u00BE': '3/4',
  '\u2153': '1/3',
  '\u2154': '2/3',
};
const currency = (t: string): string =>
  t.replace(/\u00A2/g, 'cents').replace(/\u00A3/g, '#').replace(/[\u0080\u00A4\u20A0\u20AC]/g, '$');

/** One rule: a pattern (or several, for alternatives that must each be tried for their longest match). */
function rule(patterns: string | string[], action: Action = keep, trail?: string): Rule {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  const res = list.map((p) => new RegExp(trail === undefined ? `(${p})` : `(${p})(?:${trail})`, 'yu'));
  return { res, action };
}

// In the order of PTBLexer.flex, which decides ties.
const RULES: Rule[] = [
  rule('[cC][+][+]'),
  rule('[cfCF]#'),
  rule(P.ci('cannot'), (t) => ({ token: t.slice(0, 3), consumed: 3 })),
  rule(P.ci("'twas"), (t) => ({ token: t.slice(0, 2), consumed: 2 })),
  rule(P.ci("'tis"), (t) => ({ token: t.slice(0, 2), consumed: 2 })),
  rule(`${P.ci('gonna')}|${P.ci('gotta')}|${P.ci('lemme')}|${P.ci('gimme')}|${P.ci('wanna')}`, (t) => ({
    token: t.slice(0, 3),
    consumed: 3,
  })),
  rule(`&(?:${P.ci('MD')}|${P.ci('mdash')}|${P.ci('ndash')});|[\\u0096\\u0097\\u2013\\u2014\\u2015]`, as('--')),
  rule(P.ci('&amp;'), as('&')),
  rule(`&(?:${'HT TL UR LR QC QL QR odq cdq'.split(' ').map(P.ci).join('|')}|#[0-9]+);`),
  rule(P.WORD, noSoftHyphen, P.REDAUX),
  rule(P.SWORD, noSoftHyphen, P.SREDAUX),
  rule(P.WORD, noSoftHyphen),
  rule(P.APOWORD),
  rule(`[yY]${P.APOS}`, keep, '\\p{L}'),
  rule(P.FULLURL),
  rule(P.LIKELYURL),
  rule(P.EMAIL),
  rule(['@[a-zA-Z_][a-zA-Z_0-9]*', '#(?:' + P.LETTER + ')+']),
  rule(P.REDAUX, quote(false), '[^A-Za-z]'),
  rule(P.SREDAUX, quote(false), '[^A-Za-z]'),
  rule(P.DATE),
  rule(P.NUMBER, noSoftHyphen),
  rule(P.SUBSUPNUM),
  rule(P.FRAC, (t) => ({ token: t.replace(/ /g, '\u00A0') })),
  rule(P.FRAC2, (t) => ({ token: FRACTIONS[t] ?? t })),
  rule(P.TBSPEC, ampNormal),
  rule(P.THING3),
  rule(['[A-Z]*\\$', '#']),
  rule(P.DOLSIGN2, (t) => ({ token: currency(t) })),
  // "U.S. The ..." ends a sentence: the acronym keeps its period and a period token follows;
  // a one-letter "I. The" gives "I" and ".".
  rule(
    P.ACRONYM,
    (t) => (t.length === 2 ? { token: t[0], consumed: 1 } : pushBackLast(t)),
    `${P.SPACENL}+${P.SENTENCE_STARTERS}${P.SPACENL}`,
  ),
  rule(P.ABBREV3, keep, `${P.SPACENL}?\\p{Nd}`),
  rule(`(?:${P.ci('pt')}[eyEY]|${P.ci('co')})\\.`, keep, `${P.SPACE}(?:${P.ci('ltd')}|${P.ci('lim')})`),
  rule(P.ABBREV1, pushBackLast, P.SENTEND),
  rule(P.ABBREV1, keep, '[^][^]'),
  rule(P.ABBREV1, pushBackLast),
  rule(P.ABBREV2),
  rule(P.ABBREV4, keep, P.SPACE),
  rule(P.ACRO, keep, P.SPACENL),
  rule(P.TBSPEC2, keep, P.SPACENL),
  rule(P.FILENAME, keep, `${P.SPACENL}|[.?!,]`),
  rule(`${P.WORD}\\.`, noSoftHyphen, P.INSENTP),
  rule(P.PHONE, (t) => ({ token: parens(t.replace(/ /g, '\u00A0')) })),
  rule(P.DBLQUOT, quote(true), '[A-Za-z0-9$]'),
  rule(P.DBLQUOT, quote(false)),
  rule('\\x7f', skip),
  rule(`<|${P.ci('&lt;')}`, as('<')),
  rule(`>|${P.ci('&gt;')}`, as('>')),
  rule(P.SMILEY, (t) => ({ token: parens(t) }), '[^A-Za-z0-9]'),
  rule(P.ASIANSMILEY, (t) => ({ token: parens(t) })),
  rule('\\{', as('-LCB-')),
  rule('\\}', as('-RCB-')),
  rule('\\[', as('-LSB-')),
  rule('\\]', as('-RSB-')),
  rule('\\(', as('-LRB-')),
  rule('\\)', as('-RRB-')),
  rule('-+', (t) => ({ token: t.length >= 3 && t.length <= 4 ? '--' : t })),
  rule(P.LDOTS, as('...')),
  rule(['@+', '#+', '_+']),
  rule(['\\*+', '(?:\\\\\\*){1,3}']),
  rule(P.INSENTP),
  rule('[?!]+'),
  rule('[.\\u00A1\\u00BF\\u037E\\u0589\\u061F\\u06D4\\u0700-\\u0702\\u07FA\\u3002]'),
  rule('='),
  rule('\\/'),
  rule(`${P.HTHING}\\.`, noSoftHyphen, P.INSENTP),
  rule(P.HTHING, noSoftHyphen),
  rule(`${P.THING}\\.`, keep, P.INSENTP),
  rule(P.THING),
  rule(`${P.THINGA}\\.`, ampNormal, P.INSENTP),
  rule(P.THINGA, ampNormal),
  rule("'", quote(true), '[A-Za-z][^ \\t\\n\\r\\u00A0]'),
  rule(P.REDAUX, quote(false)),
  rule(P.SREDAUX, quote(false)),
  rule(P.QUOTES, quote(false)),
  rule(['<<', '>>']),
  rule(P.MISCSYMBOL),
  rule(`\\0|${P.SPACE}+|[\\u200B\\u200E\\u200F\\uFEFF]`, skip),
  rule(P.NEWLINE, as(NEWLINE_TOKEN)),
  rule(P.ci('&nbsp;'), skip),
  rule('[^]', skip), // untokenizable: dropped, as with the default "firstDelete"
];

// Rules in chunks, each with one alternation regex that rejects the whole chunk in one call when
// none of its rules can match here (a speed-up only; the longest-match choice is unchanged).
const CHUNK = 4;
const CHUNKS = Array.from({ length: Math.ceil(RULES.length / CHUNK) }, (_, i) => {
  const rules = RULES.slice(i * CHUNK, (i + 1) * CHUNK);
  const any = new RegExp(rules.flatMap((r) => r.res.map((re) => `(?:${re.source})`)).join('|'), 'yu');
  return { rules, any };
});

/** Tokens of `text` in PTB3 form (not lowercased); line breaks come out as NEWLINE_TOKEN. */
export function ptbLex(input: string): string[] {
  // The lexer reads UTF-16 units and knows no character outside the BMP: each half of a
  // surrogate pair is dropped as untokenizable. Two placeholder units reproduce that.
  const text = input.replace(/[\u{10000}-\u{10FFFF}]/gu, '\uFFFF\uFFFF');
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    // Fast path: no rule but the whitespace one can start at a space, and none but NEWLINE at "\n".
    const ch = text.charCodeAt(pos);
    if (ch === 0x20) {
      pos++;
      continue;
    }
    if (ch === 0x0a) {
      out.push(NEWLINE_TOKEN);
      pos++;
      continue;
    }
    let best: Rule = RULES[RULES.length - 1];
    let bestMatch: RegExpExecArray | null = null;
    for (const chunk of CHUNKS) {
      chunk.any.lastIndex = pos;
      if (!chunk.any.test(text)) continue;
      for (const r of chunk.rules) {
        for (const re of r.res) {
          re.lastIndex = pos;
          const m = re.exec(text);
          if (m !== null && (bestMatch === null || m[0].length > bestMatch[0].length)) {
            best = r;
            bestMatch = m;
          }
        }
      }
    }
    // Unreachable: the last rule takes any character.
    if (bestMatch === null) throw new Error(`ptbLex: no rule matched at ${pos}`);
    const matched = bestMatch[1];
    const { token, consumed } = best.action(matched);
    if (token !== null) out.push(token);
    pos += consumed ?? matched.length;
  }
  return out;
}
