import { describe, expect, it } from 'vitest';
import { porter2 } from './porter2';

// Expected stems are those of the Snowball English stemmer bundled with METEOR 1.5.
const CASES: [string, string][] = [
  ['caresses', 'caress'], ['ponies', 'poni'], ['ties', 'tie'], ['cries', 'cri'], ['gaps', 'gap'], ['gas', 'gas'],
  ['kiwis', 'kiwi'], ['hoping', 'hope'], ['agreed', 'agre'], ['feed', 'feed'], ['bled', 'bled'], ['sitting', 'sit'],
  ['hopping', 'hop'], ['filing', 'file'], ['generously', 'generous'], ['generation', 'generat'],
  ['communication', 'communic'], ['arsenal', 'arsenal'], ['skies', 'sky'], ['dying', 'die'], ['news', 'news'],
  ['inning', 'inning'], ['innings', 'inning'], ['succeeded', 'succeed'], ['cry', 'cri'], ['by', 'by'], ['say', 'say'],
  ['yesterday', 'yesterday'], ['emotional', 'emot'], ['conditional', 'condit'], ['controlling', 'control'],
  ['roll', 'roll'], ['knightly', 'knight'], ["kids'", 'kid'], ["'tis", 'tis'], ['consolingly', 'consol'],
  // E2E vocabulary
  ['restaurants', 'restaur'], ['friendly', 'friend'], ['family-friendly', 'family-friend'], ['located', 'locat'],
  ['location', 'locat'], ['cheaply', 'cheapli'], ['priced', 'price'], ['pricing', 'price'], ['children', 'children'],
  ['rated', 'rate'], ['rating', 'rate'], ['customers', 'custom'], ['dining', 'dine'], ['serves', 'serv'],
];

describe('porter2', () => {
  it('stems like Snowball English', () => {
    for (const [word, stem] of CASES) expect([word, porter2(word)]).toEqual([word, stem]);
  });
});
