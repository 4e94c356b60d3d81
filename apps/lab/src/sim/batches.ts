// The batch order and dropout seeds of a volunteer (packages/client/src/volunteer.ts), reproduced
// for the methods that run without it (CenLoRA, FedLoRA): client c draws its batches exactly as a
// SplitLoRA client with the same seed does, so the three methods see the same data in the same order.
import { BatchIterator, makeBatch, mixSeed, type Batch, type EncodedExample } from '@splitlora/data';

/** The seed of client c (data order and LoRA dropout), in [0, 2^31 - 1) as the volunteer page needs. */
export function clientSeed(seed: number, client: number): number {
  return mixSeed(seed, client + 1) % 2147483647;
}

/** The LoRA dropout seed of a volunteer's local step (0-based): the volunteer's own function. */
export { stepDropoutSeed } from '@splitlora/client';

/** Batches of B examples drawn one index at a time from an endless shuffled order (the volunteer's way). */
export class BatchDrawer {
  private readonly it: BatchIterator;

  constructor(private readonly examples: readonly EncodedExample[], private readonly batch: number, private readonly maxLen: number, seed: number) {
    this.it = new BatchIterator(examples.length, 1, { seed });
  }

  /** The next batch with a completion token; like the volunteer, it skips those maxLen cuts off. */
  next(): { indices: number[]; batch: Batch } {
    for (let tries = 0; tries < this.examples.length; tries++) {
      const indices: number[] = [];
      while (indices.length < this.batch) indices.push(...this.it.next().indices);
      const batch = makeBatch(indices.map((i) => this.examples[i]), { maxLen: this.maxLen });
      if (batch.mask.some((m) => m > 0)) return { indices, batch };
    }
    throw new Error(`no batch has a completion token within sequence length ${this.maxLen}: the prompts are too long for it`);
  }
}

/** Running mean and maximum of batch lengths. */
export class SeqLenStats {
  private sum = 0;
  private n = 0;
  max = 0;

  add(T: number): void {
    this.sum += T;
    this.n += 1;
    this.max = Math.max(this.max, T);
  }

  get mean(): number {
    return this.n ? this.sum / this.n : 0;
  }
}
