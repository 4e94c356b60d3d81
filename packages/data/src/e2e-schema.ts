// A pretraining corpus in E2E's own MR format for a benchmark base (scripts/pretrain-e2e-base.mjs):
//   name : Zorvani | Type : pub | area : riverside | near : Clare Hall||Zorvani is a pub in the riverside , near Clare Hall .
// The attribute values come from an E2E split's MR side (harvestMrValues, readMrValues in
// files-node.ts), mixed with the corpus's invented values and with invented names; the text comes
// from corpus.ts's templates, phrased literally, so every MR value appears verbatim in its text and
// the model learns to copy facts from the prompt. No E2E reference sentence is used: `avoid` only
// keeps a generated text from coinciding with one.
import { CORPUS_VALUES, LITERAL_PHRASING, describeFacts, factSentence, type CorpusFacts } from './corpus';
import type { TextExample } from './examples';
import { MR_SLOTS, canonicalSlot, formatMr, parseMr, type MrSlot, type MrSlots } from './mr';
import { makeRng, randInt, shuffleInPlace, type Rng } from './rng';
import { EOS, decodeTokens } from './tokenizer';
import { tokenizeE2E } from './word-tokenize';

/** Distinct values of each E2E slot (lora-format slot names), in first-seen order. */
export type MrValues = Record<MrSlot, string[]>;

/** The distinct values of every slot in these lora-format MRs ("name : X | Type : Y"). */
export function harvestMrValues(mrs: Iterable<string>): MrValues {
  const seen = Object.fromEntries(MR_SLOTS.map((s) => [s, new Set<string>()])) as Record<MrSlot, Set<string>>;
  for (const mr of mrs) {
    for (const [key, value] of Object.entries(parseMr(mr))) if (value) seen[canonicalSlot(key)].add(value);
  }
  return Object.fromEntries(MR_SLOTS.map((s) => [s, [...seen[s]]])) as MrValues;
}

export interface E2ESchemaOptions {
  /** Slot values to draw from (harvestMrValues of a split's MRs). Needs at least one name. */
  values: MrValues;
  /** Number of lines. */
  n: number;
  seed?: number;
  /**
   * Share of names, near values, types and foods drawn from invented values instead of `values`
   * (0..1, default 0.5). Copying has to work for names the model never saw: E2E's test names are
   * not its dev names.
   */
  invented?: number;
  /** Share of names drawn from invented ones (0..1, default `invented`): the lever against memorising names. */
  inventedNames?: number;
  /**
   * Share of invented names and near values made of GPT-2 vocabulary words ("Vaults", "Spice Loch")
   * (0..1, default 0). A token that never appears as a target keeps a head row that pretraining pushed
   * down, so a name made of such tokens is not copied; these names train the head rows of ~10k words.
   * (500 steps of it on the 4×64 base did not yet make unseen test names copyable.)
   */
  vocabNames?: number;
  /** Texts never to produce (a split's references): a coinciding text is drawn again. */
  avoid?: ReadonlySet<string>;
}

// Syllables for invented names ("Zorvani", "The Kelmot"): BPE splits them into pieces the model
// cannot have memorised, so it must copy them token by token.
const ONSETS = ['b', 'c', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'ch', 'br', 'st', 'tr', 'gl'];
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ee'];
const CODAS = ['', '', 'n', 'r', 'l', 's', 'x', 'm', 'tt', 'nd'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[randInt(rng, xs.length)];
}

function pseudoWord(rng: Rng): string {
  let w = '';
  for (let i = 1 + randInt(rng, 3); i > 0; i--) w += pick(rng, ONSETS) + pick(rng, NUCLEI);
  w += pick(rng, CODAS);
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/** A name from `pool` as is, two of its names recombined, or a made-up word. */
function inventName(rng: Rng, pool: readonly string[]): string {
  const r = rng();
  if (r < 0.35) return pick(rng, pool);
  if (r < 0.65) {
    const head = pick(rng, pool).split(' ');
    const tail = pick(rng, pool).split(' ');
    const name = [...head.slice(0, Math.max(1, head.length - 1)), tail[tail.length - 1]].join(' ');
    return name.split(' ').length > 1 ? name : `The ${name}`;
  }
  const word = pseudoWord(rng);
  const s = rng();
  return s < 0.3 ? `The ${word}` : s < 0.5 ? `${word} ${pick(rng, pool).split(' ').pop()}` : word;
}

let vocab: { words: string[]; pieces: string[] } | undefined;
/** Capitalised whole-word tokens (" Blue") and lower-case word pieces ("affe") of GPT-2's vocabulary. */
function gpt2Words(): { words: string[]; pieces: string[] } {
  if (!vocab) {
    vocab = { words: [], pieces: [] };
    for (let id = 0; id < EOS; id++) {
      const s = decodeTokens([id]);
      if (/^ [A-Z][a-z]{2,}$/.test(s)) vocab.words.push(s.slice(1));
      else if (/^[a-z]{2,}$/.test(s)) vocab.pieces.push(s);
    }
  }
  return vocab;
}

/** "Vaults", "Spicelo", "The Green Loch": one or two vocabulary words, sometimes with a piece glued on. */
function vocabName(rng: Rng): string {
  const { words, pieces } = gpt2Words();
  const word = () => (rng() < 0.25 ? pick(rng, words) + pick(rng, pieces) : pick(rng, words));
  const name = rng() < 0.4 ? `${word()} ${word()}` : word();
  return rng() < 0.3 ? `The ${name}` : name;
}

const toFact: Record<Exclude<MrSlot, 'name'>, Exclude<keyof CorpusFacts, 'name'>> = {
  Type: 'type',
  food: 'food',
  price: 'price',
  'customer rating': 'rating',
  area: 'area',
  'family friendly': 'family',
  near: 'near',
};

/** Whether `text` states the fact `slot : value` (names verbatim, other values in any case). */
export function statesFact(text: string, slot: MrSlot, value: string): boolean {
  if (slot === 'family friendly') return /\b(family|families|children|adults)\b/i.test(text);
  if (slot === 'name' || slot === 'near') return text.includes(value);
  return text.toLowerCase().includes(value.toLowerCase());
}

function uniq(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** `n` seeded "MR||text" lines in lora-format E2E; every MR value appears in its text. */
export function e2eSchemaCorpus({ values, n, seed = 0, invented = 0.5, inventedNames = invented, vocabNames = 0, avoid = new Set() }: E2ESchemaOptions): string[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`e2e schema corpus n must be an integer >= 0, got ${n}`);
  for (const [k, x] of Object.entries({ invented, inventedNames, vocabNames })) if (!(x >= 0 && x <= 1)) throw new Error(`e2e schema corpus ${k} must be in [0, 1], got ${x}`);
  if (!values.name?.length) throw new Error('e2e schema corpus needs at least one name value (harvest the MRs of an E2E split)');
  const clean = (xs: readonly string[] = []) => uniq(xs.map(tokenizeE2E).filter(Boolean));
  const own = Object.fromEntries(MR_SLOTS.map((s) => [s, clean(values[s])])) as MrValues;
  const namePool = uniq([...own.name, ...clean(CORPUS_VALUES.name)]);
  // invented: 0 keeps to the given values.
  const other: Partial<MrValues> = invented === 0 ? {} : {
    Type: clean(CORPUS_VALUES.type),
    food: clean(CORPUS_VALUES.food),
    near: uniq([...clean(CORPUS_VALUES.near), ...namePool]),
  };
  const optional = MR_SLOTS.filter((s) => s !== 'name' && own[s].length + (other[s]?.length ?? 0) > 0);
  const rng = makeRng(seed);
  const draw = (slot: MrSlot): string => {
    const fresh = rng() < (slot === 'name' ? inventedNames : invented);
    // (vocabNames 0 draws nothing extra, so older corpora stay as they were.)
    const invent = (pool: readonly string[]) => tokenizeE2E(vocabNames > 0 && rng() < vocabNames ? vocabName(rng) : inventName(rng, pool));
    if (slot === 'name') return fresh ? invent(namePool) : pick(rng, own.name);
    if (slot === 'near' && fresh && other.near) return invent(other.near);
    const mine = own[slot];
    const theirs = other[slot] ?? [];
    return (fresh && theirs.length) || !mine.length ? pick(rng, theirs) : pick(rng, mine);
  };

  const out: string[] = [];
  while (out.length < n) {
    const mr: MrSlots = { name: draw('name') };
    // Like E2E's MRs: a name and 2..7 other slots (fewer when fewer exist).
    const k = Math.min(optional.length, 2 + randInt(rng, 6));
    for (const s of shuffleInPlace([...optional], rng).slice(0, k)) mr[s] = draw(s);
    if (mr.near === mr.name) delete mr.near;
    const facts: CorpusFacts = { name: mr.name! };
    for (const s of optional) if (mr[s] !== undefined) (facts as Record<string, string>)[toFact[s as Exclude<MrSlot, 'name'>]] = mr[s]!;
    let text = '';
    for (let tries = 0; tries < 20 && (text === '' || avoid.has(text)); tries++) {
      // The template's first sentence, then its other sentences in a random order.
      const [first, ...rest] = describeFacts(facts, rng, LITERAL_PHRASING).split(/(?<=\.) (?=[A-Z])/);
      const said = [first, ...shuffleInPlace(rest, rng)].join(' ');
      // A template may leave a value out (a price it cannot put before a noun): say it on its own.
      const missing = MR_SLOTS.filter((s) => mr[s] !== undefined && !statesFact(said, s, mr[s]!));
      text = tokenizeE2E([said, ...missing.map((s) => factSentence(s === 'name' ? 'name' : toFact[s], facts, rng, LITERAL_PHRASING))].join(' '));
    }
    if (avoid.has(text)) continue; // a 3-slot MR can have few texts; draw another MR
    out.push(`${formatMr(mr)}||${text}`);
  }
  return out;
}

/** The corpus as examples: the MR is the context, the loss covers the text. */
export function e2eSchemaExamples(opts: E2ESchemaOptions): TextExample[] {
  return e2eSchemaCorpus(opts).map((line) => {
    const [context, completion] = line.split('||');
    return { context, completion };
  });
}
