// A built-in, seeded, E2E-style data set: the offline default for the demo, volunteer
// sample shards and tests. MRs use the eight E2E slots in lora-format spelling; names,
// values and sentence templates are all invented here (none come from E2E). The templates
// are regular on purpose, so that a tiny model can learn them in minutes.
import type { TextExample } from './examples';
import { formatMr, type MrSlots } from './mr';
import { makeRng, randInt, shuffleInPlace, type Rng } from './rng';

export const SYNTHETIC_VALUES = {
  name: [
    'The Copper Kettle', 'Saffron Lane', 'The Blue Heron', 'Marigold', 'The Lamplighter',
    'Juniper Hall', 'Pebble Bay', 'The Red Lantern', 'Little Fig', 'Harbour Light',
    'Moonflower', 'The Quiet Fox', 'Cedar Table', 'Tamarind', 'The Iron Gate', 'Wild Thyme',
    'The Salt Cellar', 'Golden Wheat', 'Northwind', 'The Paper Crane', 'Hazel and Rye',
    'The Lemon Tree', 'Ember', 'The Green Door',
  ],
  Type: ['café', 'bistro', 'pub', 'diner', 'tea room', 'bakery'],
  food: ['Thai', 'Greek', 'Mexican', 'Spanish', 'Korean', 'Turkish', 'Vietnamese', 'vegetarian'],
  price: ['low', 'moderate', 'high'],
  'customer rating': ['poor', 'average', 'good', 'excellent'],
  area: ['harbour', 'old town', 'market square', 'university quarter'],
  'family friendly': ['yes', 'no'],
  near: [
    'the Clock Tower', 'the Old Bridge', 'the Botanic Garden', 'Kingsway Market',
    'the Grand Theatre', 'the Railway Station', 'the Museum of Maps', 'the Cathedral',
  ],
} as const;

type Slot = keyof typeof SYNTHETIC_VALUES;
type Mr = { name: string } & Partial<Record<Slot, string>>;
const OPTIONAL: Slot[] = ['Type', 'food', 'price', 'customer rating', 'area', 'family friendly', 'near'];

/** Name always; 2..7 of the other seven slots, like E2E's 3..8-slot MRs. */
function randomMr(rng: Rng): Mr {
  const pick = (s: Slot) => SYNTHETIC_VALUES[s][randInt(rng, SYNTHETIC_VALUES[s].length)];
  const mr: Mr = { name: pick('name') };
  const k = 2 + randInt(rng, OPTIONAL.length - 1);
  for (const s of shuffleInPlace([...OPTIONAL], rng).slice(0, k)) mr[s] = pick(s);
  return mr;
}

// Small phrase helpers. Output is word-tokenized like lora-format refs: " , " and " ."
const noun = (m: Mr) => m.Type ?? 'place';
const foodAdj = (m: Mr) => (m.food ? `${m.food} ` : '');
const where = (m: Mr) => [m.area && `in the ${m.area}`, m.near && `near ${m.near}`].filter(Boolean).join(' ');
const family = (m: Mr) =>
  m['family friendly'] === undefined ? '' : m['family friendly'] === 'yes' ? 'family - friendly' : 'not family - friendly';

/** "a Thai café", "an average rating" */
const a = (phrase: string) => `${/^[aeiou]/i.test(phrase) ? 'an' : 'a'} ${phrase}`;

/** "x", "x and y", "x , y and z"; falsy items are dropped. */
function list(items: (string | false | undefined)[]): string {
  const xs = items.filter((x): x is string => !!x);
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(' , ')} and ${xs[xs.length - 1]}`;
}

/** Joins words into sentences ending " ."; empty sentences vanish. */
function text(...sentences: (string | false | undefined)[]): string {
  return sentences
    .filter((s): s is string => !!s && s.trim() !== '')
    .map((s) => `${s.replace(/\s+/g, ' ').trim()} .`)
    .join(' ');
}

// Each template mentions every slot present in the MR, so every ref is faithful to its MR.
const TEMPLATES: ((m: Mr) => string)[] = [
  (m) => {
    const has = list([m.price && `${m.price} prices`, m['customer rating'] && a(`${m['customer rating']} customer rating`)]);
    return text(`${m.name} is ${a(foodAdj(m) + noun(m))} ${where(m)}`, has && `It has ${has}`, family(m) && `It is ${family(m)}`);
  },
  (m) => {
    const facts = list([
      family(m) && `is ${family(m)}`,
      m.price && `charges ${m.price} prices`,
      m['customer rating'] && `is rated ${m['customer rating']} by customers`,
    ]);
    return text(`There is ${a(foodAdj(m) + noun(m))} called ${m.name} ${where(m)}`, facts && `It ${facts}`);
  },
  (m) => {
    const kids = family(m) === 'family - friendly' ? 'family - friendly ' : '';
    const serves = `serves ${m.food ? `${m.food} food` : 'food'}${m.price ? ` at ${m.price} prices` : ''}`;
    return text(
      `${m.name} , ${a(kids + noun(m))} ${where(m)} , ${serves}`,
      m['customer rating'] && `Customers give it ${a(m['customer rating'] + ' rating')}`,
      family(m) === 'not family - friendly' && 'It is not family - friendly',
    );
  },
  (m) => {
    const place = `${m.area ? `In the ${m.area}` : 'In town'}${m.near ? ` near ${m.near}` : ''}`;
    const priced = m.price ? `${m.price} - priced ` : '';
    const rated = m['customer rating'] ? ` with ${a(m['customer rating'] + ' rating')}` : '';
    return text(
      `${place} , you can find ${m.name}`,
      `It is ${a(priced + foodAdj(m) + noun(m))}${rated}`,
      family(m) && `It is ${family(m)}`,
    );
  },
];

export interface SyntheticOptions {
  /** Number of examples (pairs) to return. */
  n: number;
  seed?: number;
  /** References per MR (each from a different template), at most the template count. Default 3. */
  refsPerMr?: number;
}

/** `n` seeded E2E-style pairs: `refsPerMr` consecutive refs per MR, lora-format MR as context. */
export function syntheticE2E({ n, seed = 0, refsPerMr = 3 }: SyntheticOptions): TextExample[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`synthetic n must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(refsPerMr) || refsPerMr < 1 || refsPerMr > TEMPLATES.length) {
    throw new Error(`refsPerMr must be an integer in 1..${TEMPLATES.length}, got ${refsPerMr}`);
  }
  const rng = makeRng(seed);
  const out: TextExample[] = [];
  while (out.length < n) {
    const mr = randomMr(rng);
    const context = formatMr(mr as MrSlots);
    const templates = shuffleInPlace([...TEMPLATES], rng).slice(0, refsPerMr);
    for (const t of templates) if (out.length < n) out.push({ context, completion: t(mr) });
  }
  return out;
}
