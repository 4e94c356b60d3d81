import { describe, expect, it } from 'vitest';
import { fingerprintExamples } from './examples';

describe('fingerprintExamples', () => {
  const a = { context: [1, 2, 50256], completion: [3, 4, 50256] };
  const b = { context: [5, 50256], completion: [6, 50256] };

  it('is stable for the same examples and changes with any token, boundary or order', () => {
    expect(fingerprintExamples([a, b])).toBe(fingerprintExamples([{ ...a }, { ...b }]));
    const seen = new Set([
      fingerprintExamples([a, b]),
      fingerprintExamples([b, a]),
      fingerprintExamples([a]),
      fingerprintExamples([{ ...a, completion: [3, 5, 50256] }, b]),
      // Same tokens, context/completion boundary moved.
      fingerprintExamples([{ context: [1, 2], completion: [50256, 3, 4, 50256] }, b]),
    ]);
    expect(seen.size).toBe(5);
    expect(fingerprintExamples([a, b])).toMatch(/^2-[0-9a-f]{8}$/);
  });
});
