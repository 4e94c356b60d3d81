// E2E meaning representations (MRs) in the lora-format spelling used by LoRA and SplitLoRA:
//   name : The Eagle | Type : coffee shop | price : £ 20 - 25 | family friendly : yes
// The official CSV spells the same MR `name[The Eagle], eatType[coffee shop], ...`.
import type { TextExample } from './examples';
import { tokenizeE2E } from './word-tokenize';

/** The eight E2E slots, lora-format spelling, in the order both E2E formats list them. */
export const MR_SLOTS = [
  'name',
  'Type',
  'food',
  'price',
  'customer rating',
  'area',
  'family friendly',
  'near',
] as const;
export type MrSlot = (typeof MR_SLOTS)[number];
export type MrSlots = Partial<Record<string, string>>;

/** Official-CSV slot name -> lora-format slot name (the other five are spelled the same). */
const CSV_TO_LORA: Record<string, MrSlot> = {
  eatType: 'Type',
  priceRange: 'price',
  familyFriendly: 'family friendly',
};

// Accepted spellings of each slot, compared lower-case without spaces or underscores.
const ALIASES: Record<string, MrSlot> = {
  name: 'name',
  type: 'Type',
  eattype: 'Type',
  food: 'food',
  price: 'price',
  pricerange: 'price',
  customerrating: 'customer rating',
  rating: 'customer rating',
  area: 'area',
  familyfriendly: 'family friendly',
  near: 'near',
};

/** Resolves `eatType`, `Type`, `priceRange`, `customer rating`, ... to the lora-format slot. */
export function canonicalSlot(attr: string): MrSlot {
  const slot = ALIASES[attr.toLowerCase().replace(/[\s_-]/g, '')];
  if (!slot) {
    throw new Error(
      `unknown MR attribute "${attr}": use one of name, eatType, food, priceRange, customerRating, area, familyFriendly, near`,
    );
  }
  return slot;
}

/**
 * `name : X | Type : Y` -> { name: 'X', Type: 'Y' }. Lenient on purpose, so any context can
 * be asked for its slots: segments without a ":" are ignored and a plain sentence gives {}.
 */
export function parseMr(mr: string): MrSlots {
  const slots: MrSlots = {};
  for (const part of mr.split('|')) {
    const colon = part.indexOf(':');
    if (colon < 0) continue;
    const key = part.slice(0, colon).trim();
    if (key) slots[key] = part.slice(colon + 1).trim();
  }
  return slots;
}

export function mrOf(example: TextExample): MrSlots {
  return parseMr(example.context);
}

/** Renders slots as a lora-format MR, E2E slots first in their usual order. */
export function formatMr(slots: MrSlots): string {
  const keys = [
    ...MR_SLOTS.filter((k) => slots[k] !== undefined),
    ...Object.keys(slots).filter((k) => !(MR_SLOTS as readonly string[]).includes(k) && slots[k] !== undefined),
  ];
  return keys.map((k) => `${k} : ${slots[k]}`).join(' | ');
}

/**
 * Official-CSV MR -> lora-format MR, or a problem string if it is malformed.
 * Slots keep their CSV order, three are renamed (eatType -> Type, priceRange -> price,
 * familyFriendly -> family friendly) and values are word-tokenized (`£20-25` -> `£ 20 - 25`).
 * This reproduces every MR of lora-format valid.txt and test.txt from devset.csv and
 * testset_w_refs.csv.
 */
export function csvMrToLora(mr: string): string | { problem: string } {
  const slotRe = /\s*([^[\],]+?)\s*\[([^\]]*)\]\s*(?:,|$)/y;
  const parts: string[] = [];
  let at = 0;
  while (at < mr.length) {
    slotRe.lastIndex = at;
    const m = slotRe.exec(mr);
    if (!m) return { problem: `expected an MR like "name[X], eatType[Y]", found "${mr.slice(at)}"` };
    parts.push(`${CSV_TO_LORA[m[1]] ?? m[1]} : ${tokenizeE2E(m[2])}`);
    at = slotRe.lastIndex;
  }
  if (parts.length === 0) return { problem: 'empty MR' };
  return parts.join(' | ');
}
