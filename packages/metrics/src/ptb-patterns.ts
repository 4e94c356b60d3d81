// Regular-expression building blocks for the PTB lexer emulation (ptb-lexer.ts), written from
// the macro definitions of Stanford CoreNLP 3.4.1 `PTBLexer.flex` (the jar coco-caption runs).
// The lexer is caseless for literal text but not inside character classes, so literals go
// through `ci()` and classes are written out as the lexer has them.

/** A literal, case-insensitive: ci('Mr') -> '[mM][rR]'. Non-letters are regex-escaped. */
export function ci(literal: string): string {
  let out = '';
  for (const ch of literal) {
    const lo = ch.toLowerCase();
    const up = ch.toUpperCase();
    out += lo !== up ? `[${lo}${up}]` : ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

const alt = (...xs: string[]): string => `(?:${xs.join('|')})`;
const ciAlt = (words: string): string => alt(...words.split(' ').map(ci));

export const SPACE = '[ \\t\\u00A0\\u2000-\\u200A\\u3000]';
export const NEWLINE = '(?:\\r\\n|[\\r\\n\\u2028\\u2029\\u000B\\u000C\\u0085])';
export const SPACENL = `(?:${SPACE}|${NEWLINE})`;
export const SENTEND = `${SPACENL}(?:${SPACENL}|\\p{Lu})`;
export const DIGIT = '\\p{Nd}';
// JFlex [:letter:] plus the lexer's extra combining marks, soft hyphen and &Xacute;-style entities.
export const LETTER = `(?:[\\p{L}\\p{M}\\u00AD\\u02C2-\\u02C5\\u02D2-\\u02DF\\u02E5-\\u02FF\\u0375\\u0384\\u0385\\u03F6\\u055A-\\u055F]|&[aeiouAEIOU]${alt(ci('acute'), ci('grave'), ci('uml'))};)`;
const JLETTER = '\\p{L}'; // plain [:letter:], used where the lexer says so
const LD = `(?:${LETTER}|${DIGIT})`;
const JLD = `(?:${JLETTER}|${DIGIT})`;

export const APOS = `(?:['\\u0092\\u2019]|${ci('&apos;')})`;
export const APOSETC = `(?:${APOS}|[\`\\u0091\\u2018\\u201B])`;
export const WORD = `${LETTER}${LD}*(?:[.!?]${LETTER}${LD}*)*`;
export const REDAUX = `${APOS}(?:[msdMSD]|${ci('re')}|${ci('ve')}|${ci('ll')})`;
export const SWORD = '[A-Za-z\\u00AD]*[A-MO-Za-mo-z]\\u00AD*'; // cannot end in n, for "n't"
export const SREDAUX = `[nN]${APOSETC}[tT]`;

/** Word forms with an inner apostrophe that stay whole, one alternative per regex (longest wins). */
export const APOWORD = [
  `${APOS}[nN](?:${APOS})?`,
  `[lLdDjJ]${APOS}`,
  `${alt(ci('Dunkin'), ci('somethin'), ci('ol'))}${APOS}`,
  `${APOS}${ci('em')}`,
  `[A-HJ-XZn]${APOSETC}${JLETTER}{2}${JLETTER}*`,
  `${APOS}[2-9]0[sS]`,
  `${APOS}${ci('til')}[lL]?`,
  `${JLETTER}${JLETTER}*[aeiouyAEIOUY]${APOSETC}[aeiouA-Z]${JLETTER}*`,
  `${APOS}${ci('cause')}`,
  `${ci("cont'd")}\\.?`,
  ciAlt("'twas nor'easter c'mon e'er s'mores ev'ry li'l nat'l"),
  `[oO]${APOSETC}[oO]`,
];

// URLs and e-mail addresses. `,-_` in the second class is a range (0x2C-0x5F), as in the lexer.
const URLCH = '[^ \\t\\n\\f\\r"<>|(){}';
export const FULLURL = `${ci('http')}[sS]?:\\/\\/${URLCH}]+${URLCH}.!?,-]`;
const URL_PATH = `(?:\\/[^ \\t\\n\\f\\r"<>|()]+${URLCH}.!?,-])?`;
export const LIKELYURL = [
  `${ci('www')}\\.(?:${URLCH}.!?,]+\\.)+[a-zA-Z]{2,4}${URL_PATH}`,
  `(?:[^ \\t\\n\\f\\r"\`'<>|.!?(){},-_$]+\\.)+${ciAlt('com net org edu')}${URL_PATH}`,
];
const EMAILCH = '[^ \\t\\n\\f\\r"<>|(){}.\\u00A0]';
export const EMAIL = `(?:${ci('&lt;')}|<)?[a-zA-Z0-9][^ \\t\\n\\f\\r"<>|()\\u00A0{}]*@(?:${EMAILCH}+\\.)*${EMAILCH}+(?:${ci('&gt;')}|>)?`;

export const DATE = `${DIGIT}{1,2}[\\-\\/]${DIGIT}{1,2}[\\-\\/]${DIGIT}{2,4}`;
export const NUMBER = `[\\-+]?(?:${DIGIT}*(?:[.:,\\u00AD\\u066B\\u066C]${DIGIT}+)+|${DIGIT}+)`;
export const SUBSUPNUM = '[\\u207A\\u207B\\u208A\\u208B]?(?:[\\u2070\\u00B9\\u00B2\\u00B3\\u2074-\\u2079]+|[\\u2080-\\u2089]+)';
export const FRAC = `(?:${DIGIT}{1,4}[\\- \\u00A0])?${DIGIT}{1,4}(?:\\\\?\\/|\\u2044)${DIGIT}{1,4}`;
export const FRAC2 = '[\\u00BC\\u00BD\\u00BE\\u2153-\\u215E]';
export const DOLSIGN2 = '[\\u00A2\\u00A3\\u00A4\\u00A5\\u0080\\u20A0\\u20AC\\u060B\\u0E3F\\u20A4\\uFFE0\\uFFE1\\uFFE5\\uFFE6]';
export const TBSPEC = [
  `-${alt(...'RRB LRB RCB LCB RSB LSB'.split(' ').map(ci))}-`,
  ciAlt('C.D.s pro- anti-'),
  `[sS](?:&|${ci('&amp;')})${alt('[pP]-500', `${ci('ls')}`)}`,
  `${ci('cap')}${APOS}[nN]`,
  `[cC]${APOS}${ci('est')}`,
];
export const TBSPEC2 = `${APOS}[0-9][0-9]`;
export const THING3 = '[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\\\?\\/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}';

// Acronyms and abbreviations. Longer literal alternatives come first so the regex finds the
// longest form the lexer would.
const ACRO_SPECIAL = `${alt(...'Canada Sino Korean EU Japan non'.split(' ').map(ci))}-${ci('U.S')}|${ci('U.S.-')}${alt(ci('U.K'), ci('U.S.S.R'))}`;
export const ACRO = `(?:${ACRO_SPECIAL}|[A-Za-z](?:\\.[A-Za-z])*)`;
export const ACRO2 = `(?:${ACRO_SPECIAL}|[A-Za-z](?:\\.[A-Za-z])+)`;
export const ACRONYM = `${ACRO}\\.`;
/** Capitalised words after which "X.Y." ends a sentence (first letter case-sensitive). */
export const SENTENCE_STARTERS = alt(
  ...('About According Additionally After An A As At But Earlier He Her Here However If In It Last Many More ' +
    'Now Once One Other Our She Since So Some Such That The Their Then There These They This We When While What Yet You')
    .split(' ')
    .map((w) => w[0] + ci(w.slice(1))),
  `M${ci('r')}\\.`,
  `M${ci('s')}\\.`,
);

const ABMONTH = 'Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec';
const ABDAYS = 'Mon Tue Tues Wed Thu Thurs Fri';
const ABSTATE_CI = 'Ala Ariz Calif Colo Conn Ct Dak Fla Ga Ind Kan Kans Ky Md Mich Minn Mo Mont Neb Nev Okla Penn Tenn Va Vt Wis Wisc Wyo';
const ABSTATE_CAP = 'Az Ark Del Ill La Mass Miss Ore Pa Tex Wash'; // first letter must be a capital
const ABCOMP = 'Inc Co Cos Corp Ltd Plc Rt Bancorp Bhd Assn Univ Intl Sys';
const ABNUM = 'tel est ext sq';
const ABPTIT = 'Jr Sr Bros Ed.D Ph.D Blvd Rd Esq';
export const ABBREV1 = `${alt(
  ciAlt(`${ABMONTH} ${ABDAYS} ${ABSTATE_CI} ${ABCOMP} ${ABNUM} ${ABPTIT} etc al seq Bldg`),
  ...ABSTATE_CAP.split(' ').map((w) => w[0] + ci(w.slice(1))),
  `${ci('p')}(?:${ci('p')})?${ci('t')}[ye](?:${ci('s')})?`,
)}\\.`;
const ABTITLE =
  'Mr Mrs Ms Dr Drs Prof Profs Sen Sens Rep Reps Atty Attys Lt Col Gen Messrs Gov Govs Adm Rev Maj Sgt Cpl Pvt ' +
  'Capt St Ste Ave Pres Lieut Hon Brig Cmdr Comdr Pfc Spc Supt Supts Det Mt Ft Adj Adv Asst Assoc Ens Insp Mlle Mme Msgr Sfc';
const ABCOMP2 = 'Invt Elec Natl Dept';
export const ABBREV4 = alt(
  ACRO,
  ciAlt(`${ABTITLE} vs Alex Wm Jos Cie a.k.a cf TREAS Ph ${ABCOMP2}`),
  `M${ci('iss')}`,
  `${ci('m')}[ft]${ci('g')}`,
);
export const ABBREV2 = `${ABBREV4}\\.`;
export const ABBREV3 = `${ciAlt('ca fig figs prop no nos art bldg pp op')}\\.`;
const FILENAME_EXT = ciAlt(
  'bat bmp c class cgi cpp dll doc docx exe gif gz h htm html jar java jpeg jpg mov mp3 pdf php pl png ppt ps py sql tar txt wav x xml zip',
);
export const FILENAME = `${LD}+(?:\\.${LD}+)*\\.${FILENAME_EXT}`;
export const PHONE = [
  '(?:\\([0-9]{2,3}\\)[ \\u00A0]?|(?:\\+\\+?)?(?:[0-9]{2,4}[\\- \\u00A0])?[0-9]{2,4}[\\- \\u00A0])[0-9]{3,4}[\\- \\u00A0]?[0-9]{3,5}',
  '(?:(?:\\+\\+?)?[0-9]{2,4}\\.)?[0-9]{2,4}\\.[0-9]{3,4}\\.[0-9]{3,5}',
];
export const DBLQUOT = `(?:"|${ci('&quot;')})`;
export const SMILEY = "[<>]?[:;=][\\-o\\*']?[\\(\\)DPdpO\\\\{@\\|\\[\\]]";
export const ASIANSMILEY = [
  "[\\-\\^x=~<>']_[\\-\\^x=~<>']",
  "\\([\\-\\^x=~<>'][_.]?[\\-\\^x=~<>']\\)",
  "\\([\\^x=~<>']-[\\^x=~<>'`]\\)",
];
export const HYPHEN = '[\\-_\\u058A\\u2010\\u2011]';
export const LDOTS = ['\\.{3,5}', '(?:\\.[ \\u00A0]){2,4}\\.', '[\\u0085\\u2026]'];
export const INSENTP = '[,;:\\u3001]';
export const HTHING = `[A-Za-z0-9][A-Za-z0-9.,\\u00AD]*(?:-(?:${ACRO2}\\.|[A-Za-z0-9\\u00AD]+))+`;
export const THING = `(?:[dDoOlL]${APOSETC}${JLD})?${JLD}+(?:${HYPHEN}(?:[dDoOlL]${APOSETC}${JLD})?${JLD}+)*`;
export const THINGA = `[A-Z]+(?:(?:[+&]|${ci('&amp;')})[A-Z]+)+`;
export const QUOTES = [
  APOS,
  "''",
  '[`\\u2018\\u2019\\u201A\\u201B\\u201C\\u201D\\u0091\\u0092\\u0093\\u0094\\u201E\\u201F\\u2039\\u203A\\u00AB\\u00BB]{1,2}',
];
export const MISCSYMBOL =
  '[+%&~\\^|\\\\\\u00A6\\u00A7\\u00A8\\u00A9\\u00AC\\u00AE\\u00AF\\u00B0-\\u00B3\\u00B4-\\u00BA' +
  '\\u00D7\\u00F7\\u0387\\u05BE\\u05C0\\u05C3\\u05C6\\u05F3\\u05F4\\u0600-\\u0603\\u0606-\\u060A' +
  '\\u060C\\u0614\\u061B\\u061E\\u066A\\u066D\\u0703-\\u070D\\u07F6\\u07F7\\u07F8\\u0964\\u0965' +
  '\\u0E4F\\u1FBD\\u2016\\u2017\\u2020-\\u2023\\u2030-\\u2038\\u203B\\u203E-\\u2042\\u2044' +
  '\\u207A-\\u207F\\u208A-\\u208E\\u2100-\\u214F\\u2190-\\u21FF\\u2200-\\u2BFF\\u3012\\u30FB' +
  '\\uFF01-\\uFF0F\\uFF1A-\\uFF20\\uFF3B-\\uFF40\\uFF5B-\\uFF65]';
