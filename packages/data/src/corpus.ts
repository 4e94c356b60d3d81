// A seeded pretraining corpus: varied restaurant descriptions, one per line, for `splitlora
// pretrain` and the offline default model. Every name, value and template is invented here (no
// E2E text). It shares its vocabulary with syntheticE2E, the default fine-tuning data (its values,
// its words, and half of its lines in the same word-tokenized spelling, "family - friendly ,"),
// because a token the base never saw has a head row that pretraining pushed down, which a small
// LoRA on q and v cannot lift. What it does not share, on purpose, so that LoRA has something to
// learn:
//  - the sentence templates and phrasings (other word orders, sentences and synonyms: "cheap",
//    "four-star", "children are welcome"), and facts syntheticE2E never states (dishes, opening
//    hours, seating);
//  - the MR: no "name : … | Type : …" lines; a share of lines start with a fact card in another
//    spelling ("Facts: name Juniper Hall; food Thai; price low."), so the model learns to describe
//    what a prefix lists, and the fine-tuning has to learn the MR format and the E2E templates.
// Templates are regular, so that a small model reaches a low held-out loss in minutes.
// describeFacts and LITERAL_PHRASING lend the templates to e2e-schema.ts, the E2E benchmark base's corpus.
import type { TextExample } from './examples';
import { makeRng, randInt, shuffleInPlace, type Rng } from './rng';
import { SYNTHETIC_VALUES } from './synthetic';
import { tokenizeE2E } from './word-tokenize';

const S = SYNTHETIC_VALUES;

export const CORPUS_VALUES = {
  name: [
    ...S.name,
    'The Golden Fork', 'Olive Grove', 'The Brass Anchor', 'Rosemary House', 'The Silver Spoon',
    'Bramble', 'The Old Mill', 'Lotus Garden', 'The Crooked Chimney', 'Sunflower', 'The Velvet Plum',
    'Oak and Ember', 'The White Hart', 'Basil Corner', 'The Hungry Owl', 'Riverstone',
    'The Gilded Pear', 'Clover', 'The Rusty Bell', 'The Night Jar', 'Fennel and Fig',
    'Willow', 'The Painted Kite', 'Pepper Mill', 'The Stone Arch', 'Amber Lantern',
    'The Wandering Goose', 'Seabright', 'Orchard House', 'The Tin Whistle', 'Honeycomb',
  ],
  type: [...S.Type, 'restaurant', 'brasserie', 'noodle bar', 'pizzeria', 'steakhouse', 'wine bar', 'canteen'],
  food: [...S.food, 'Italian', 'French', 'Indian', 'Japanese', 'Chinese', 'British', 'Lebanese', 'Portuguese', 'seafood'],
  /** Price levels as syntheticE2E spells them; phrases also say them as "cheap", "pricey"… */
  price: [...S.price],
  /** Ratings as syntheticE2E spells them; phrases also say them in stars. */
  rating: [...S['customer rating']],
  area: [...S.area, 'city centre', 'riverside', 'old port', 'arts district', 'station quarter'],
  near: [...S.near, 'the Town Hall', 'the Stone Bridge', 'the Public Library', 'the Ferry Terminal', 'the Flower Market', 'the Old Lighthouse'],
  dish: ['fresh pasta', 'wood-fired pizza', 'slow-cooked curry', 'grilled fish', 'ramen', 'dumplings', 'roast lamb', 'fish and chips', 'tapas', 'falafel', 'pancakes', 'cakes'],
  hours: ['opens early for breakfast', 'stays open late', 'is open every day', 'closes on Mondays', 'only opens in the evening'],
  seating: ['a sunny terrace', 'a quiet garden', 'a long bar', 'cosy booths', 'a view of the water', 'a large private room'],
} as const;

type Key = keyof typeof CORPUS_VALUES;
type Facts = { name: string } & Partial<Record<Exclude<Key, 'name'>, string>>;
const OPTIONAL: Exclude<Key, 'name'>[] = ['type', 'food', 'price', 'rating', 'area', 'near', 'dish', 'hours', 'seating'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[randInt(rng, xs.length)];
}

function randomFacts(rng: Rng): Facts {
  const f: Facts = { name: pick(rng, CORPUS_VALUES.name) };
  const k = 2 + randInt(rng, 5); // 2..6 of the optional facts
  for (const key of shuffleInPlace([...OPTIONAL], rng).slice(0, k)) f[key] = pick(rng, CORPUS_VALUES[key]);
  // Family friendliness is a yes/no fact, said in words.
  if (rng() < 0.4) (f as Facts & { family?: string }).family = rng() < 0.5 ? 'yes' : 'no';
  return f;
}

const an = (phrase: string) => `${/^[aeiou]/i.test(phrase) && !/^one/i.test(phrase) ? 'an' : 'a'} ${phrase}`;
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const kind = (f: Facts) => f.type ?? 'restaurant';

/** "x", "x and y", "x, y and z". */
function list(items: (string | false | undefined)[]): string {
  const xs = items.filter((x): x is string => !!x);
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** Sentences with ordinary punctuation; empty ones vanish. */
function sentences(...parts: (string | false | undefined)[]): string {
  return parts
    .filter((s): s is string => !!s && s.trim() !== '')
    .map((s) => cap(s.replace(/\s+/g, ' ').trim()) + '.')
    .join(' ');
}

type Family = Facts & { family?: string };

// Phrase choices: each fact can be said several ways, chosen per line.
const PRICE_WORDS: Record<string, string[]> = { low: ['cheap', 'affordable'], moderate: ['mid-range', 'fairly priced'], high: ['expensive', 'pricey'] };
const STARS: Record<string, string> = { poor: 'one-star', average: 'three-star', good: 'four-star', excellent: 'five-star' };

function priceAdj(rng: Rng, p: string): string {
  return pick(rng, PRICE_WORDS[p] ?? [p]);
}
function pricePhrase(rng: Rng, p: string): string {
  return pick(rng, [`prices are ${p}`, `it is ${pick(rng, PRICE_WORDS[p] ?? [p])}`, `meals are ${pick(rng, PRICE_WORDS[p] ?? [p])}`, `it charges ${p} prices`, `the food is ${p}-priced`]);
}
function ratingPhrase(rng: Rng, r: string): string {
  return pick(rng, [`customers rate it ${r}`, `it is popular with customers, who rate it ${r}`, `it is rated ${r} by its guests`, `it holds ${an(STARS[r] ?? r)} rating`, `diners say it is ${r}`, `its customer rating is ${r}`, `critics give it ${an(STARS[r] ?? r)} review`]);
}

/** How the templates say a price, a rating and a place. The corpus uses other words ("cheap", "four-star"). */
export interface Phrasing {
  /** Before a noun ("a cheap café"); '' leaves the price out of that phrase. */
  priceAdj(rng: Rng, price: string): string;
  pricePhrase(rng: Rng, price: string): string;
  ratingPhrase(rng: Rng, rating: string): string;
  /** "in the harbour, near the Old Bridge": the area and the landmark. */
  placePhrase(rng: Rng, f: Facts): string;
}

/** The corpus's own phrasing: synonyms and stars. */
export const CORPUS_PHRASING: Phrasing = { priceAdj, pricePhrase, ratingPhrase, placePhrase };

// Literal phrasing: every price and rating value appears verbatim ("moderately" contains "moderate").
const LITERAL_PRICE_ADJ: Record<string, string[]> = { cheap: ['cheap'], moderate: ['moderately priced', 'moderate-priced'], high: ['high-priced', 'high priced'] };

/** States each value as written (for MR-to-text data, where the text must contain the MR's values). */
export const LITERAL_PHRASING: Phrasing = {
  // "a less than £ 20 café" reads badly: such values get a sentence of their own instead.
  priceAdj: (rng, p) => pick(rng, LITERAL_PRICE_ADJ[p] ?? [/^(less|more) /.test(p) ? '' : p]),
  pricePhrase: (rng, p) => pick(rng, [`prices are ${p}`, `the price range is ${p}`, `it is in the ${p} price range`, `its prices are ${p}`]),
  ratingPhrase: (rng, r) => pick(rng, [`customers rate it ${r}`, `it is rated ${r} by its customers`, `its customer rating is ${r}`, `it has ${an(r)} customer rating`, `it has a customer rating of ${r}`]),
  // The landmark first as often as the area.
  placePhrase: (rng, f) => {
    const place = placePhrase(rng, f);
    return f.area && f.near && rng() < 0.5 ? place.split(', ').reverse().join(', ') : place;
  },
};

function placePhrase(rng: Rng, f: Facts): string {
  const parts = [f.area && pick(rng, [`in the ${f.area}`, `over in the ${f.area}`]), f.near && pick(rng, [`close to ${f.near}`, `next to ${f.near}`, `a short walk from ${f.near}`, `near ${f.near}`])];
  return parts.filter(Boolean).join(', ');
}
function familyPhrase(rng: Rng, f: Family): string {
  if (f.family === undefined) return '';
  return f.family === 'yes'
    ? pick(rng, ['it is family-friendly', 'children are welcome', 'families are welcome'])
    : pick(rng, ['it is not family-friendly', 'it is for adults only', 'children are not allowed']);
}

/** "cheap " before a noun, or nothing when the phrasing leaves the price to a sentence of its own. */
function adjective(rng: Rng, say: Phrasing, price: string): string {
  const adj = say.priceAdj(rng, price);
  return adj ? `${adj} ` : '';
}

// Each template says every fact present, so a fact card and its description agree.
const TEMPLATES: ((f: Family, rng: Rng, say: Phrasing) => string)[] = [
  (f, rng, say) => sentences(
    `${f.name} is ${an(`${f.food ? f.food + ' ' : ''}${kind(f)}`)} ${say.placePhrase(rng, f)}`,
    f.price && say.pricePhrase(rng, f.price),
    f.rating && say.ratingPhrase(rng, f.rating),
    f.dish && `the ${f.dish} is a favourite`,
    f.hours && `it ${f.hours}`,
    f.seating && pick(rng, [`there is ${f.seating}`, `it is ${an(kind(f))} with ${f.seating}`]),
    familyPhrase(rng, f),
  ),
  (f, rng, say) => sentences(
    `if you are ${say.placePhrase(rng, f) || 'in town'}, try ${f.name}`,
    `this ${f.price ? adjective(rng, say, f.price) : ''}${kind(f)} ${f.food ? `${pick(rng, ['cooks', 'serves'])} ${f.food} food` : 'is worth a visit'}${f.dish ? ` and is known for its ${f.dish}` : ''}`,
    f.rating && say.ratingPhrase(rng, f.rating),
    f.seating && `guests can enjoy ${f.seating}`,
    f.hours && `it ${f.hours}`,
    familyPhrase(rng, f),
  ),
  (f, rng, say) => {
    const offers = list([f.food && `${f.food} cooking`, f.dish && f.dish, f.seating && f.seating]);
    return sentences(
      `at ${f.name}, ${an(kind(f))} ${say.placePhrase(rng, f)}, you will find ${offers || 'a warm welcome'}`,
      f.price && say.pricePhrase(rng, f.price),
      f.rating && say.ratingPhrase(rng, f.rating),
      f.hours && `the place ${f.hours}`,
      familyPhrase(rng, f),
    );
  },
  (f, rng, say) => sentences(
    `looking for ${an(`${f.price ? adjective(rng, say, f.price) : ''}${f.food ? f.food + ' ' : ''}${kind(f)}`)}? ${f.name} is ${say.placePhrase(rng, f) || 'a good choice'}`,
    f.dish && `order the ${f.dish}`,
    f.rating && say.ratingPhrase(rng, f.rating),
    f.hours && `it ${f.hours}`,
    f.seating && `there is ${f.seating}`,
    familyPhrase(rng, f),
  ),
  (f, rng, say) => {
    const about = list([f.food && `${f.food} food`, f.price && `${f.price} prices`, f.rating && `${an(f.rating)} rating`]);
    return sentences(
      `${f.name} ${say.placePhrase(rng, f) ? `sits ${say.placePhrase(rng, f)}` : 'is a local favourite'}`,
      `the ${kind(f)} has ${about || 'a loyal crowd'}`,
      f.dish && `people come for the ${f.dish}`,
      f.seating && `${pick(rng, ['inside', 'in summer'])} there is ${f.seating}`,
      f.hours && `it ${f.hours}`,
      familyPhrase(rng, f),
    );
  },
  (f, rng, say) => sentences(
    `we had dinner at ${pick(rng, ['', 'a place called '])}${f.name}${f.area ? ` in the ${f.area}` : ''}`,
    `it is ${an(`${f.food ? f.food + ' ' : ''}${kind(f)}`)}${f.near ? ` near ${f.near}` : ''}`,
    f.dish && `the ${f.dish} was excellent`,
    f.price && say.pricePhrase(rng, f.price),
    f.rating && say.ratingPhrase(rng, f.rating),
    f.seating && `we liked ${f.seating}`,
    f.hours && `it ${f.hours}`,
    familyPhrase(rng, f),
  ),
];

/** The facts a template can say: a name, some of the optional facts, and family friendliness. */
export type CorpusFacts = Family;

/** One description of `f`, in sentences, from a template chosen with `rng`. */
export function describeFacts(f: CorpusFacts, rng: Rng, say: Phrasing = CORPUS_PHRASING): string {
  return pick(rng, TEMPLATES)(f, rng, say);
}

/** One sentence that says the fact `key` of `f` alone (for a description that left it out). */
export function factSentence(key: keyof CorpusFacts, f: CorpusFacts, rng: Rng, say: Phrasing = CORPUS_PHRASING): string {
  const v = f[key];
  if (v === undefined) return '';
  const said: Partial<Record<keyof CorpusFacts, () => string>> = {
    name: () => `it is called ${v}`,
    type: () => `it is ${an(v)}`,
    food: () => `it serves ${v} food`,
    price: () => say.pricePhrase(rng, v),
    rating: () => say.ratingPhrase(rng, v),
    area: () => `it is in the ${v}`,
    near: () => `it is near ${v}`,
    family: () => familyPhrase(rng, f),
  };
  return sentences(said[key]?.() ?? `its ${key} is ${v}`);
}

/** "Facts: name X; food Thai; price cheap." — the fact card some lines start with. */
function factCard(f: Family): string {
  const order: (keyof Family)[] = ['name', 'type', 'food', 'price', 'rating', 'area', 'near', 'dish', 'hours', 'seating', 'family'];
  return `Facts: ${order.filter((k) => f[k] !== undefined).map((k) => `${k} ${f[k]}`).join('; ')}.`;
}

export interface CorpusOptions {
  /** Number of lines. */
  n: number;
  seed?: number;
  /** Share of lines that start with a fact card (0..1). Default 0.3. */
  factCards?: number;
  /** Share of lines in the word-tokenized spelling of the E2E refs ("town , near") (0..1). Default 0.5. */
  tokenized?: number;
}

/** `n` seeded restaurant descriptions, one per line (no newlines inside). */
export function restaurantCorpus({ n, seed = 0, factCards = 0.3, tokenized = 0.5 }: CorpusOptions): string[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`corpus n must be an integer >= 0, got ${n}`);
  for (const [k, x] of Object.entries({ factCards, tokenized })) if (!(x >= 0 && x <= 1)) throw new Error(`corpus ${k} must be in [0, 1], got ${x}`);
  const rng = makeRng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = randomFacts(rng);
    const text = describeFacts(f, rng);
    const line = rng() < factCards ? `${factCard(f)} ${text}` : text;
    out.push(rng() < tokenized ? tokenizeE2E(line) : line);
  }
  return out;
}

/** The corpus as language-modelling examples (empty context: the loss covers every token). */
export function restaurantCorpusExamples(opts: CorpusOptions): TextExample[] {
  return restaurantCorpus(opts).map((completion) => ({ context: '', completion }));
}

/** The corpus of the shipped default model (apps/lab/scripts/pretrain-default.mjs): training and held-out lines. */
export const DEFAULT_CORPUS = {
  train: { n: 20000, seed: 1 },
  heldout: { n: 200, seed: 2 },
} as const satisfies Record<string, CorpusOptions>;
