import { EOS, decodeTokens, encodeText } from '@splitlora/data';
import type { GPT2Config } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { STOP_TOKENS, promptIds } from './commands/generate';
import { runCli } from '../../../test/kit/cli';
import { useTempModel } from '../../../test/kit/temp';

const GEN_CFG: GPT2Config = { vocabSize: 50257, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
const fixture = useTempModel('gen', GEN_CFG, { seed: 1, wteStd: 0.5 });

/** Generated ids: exactly n, or fewer ending in a stop token. */
function expectLength(tokens: number[], n: number) {
  if (tokens.length < n) expect(STOP_TOKENS).toContain(tokens[tokens.length - 1]);
  else expect(tokens.length).toBe(n);
}

describe('generate', () => {
  it('prompt encoding: a training context ends in <|endoftext|>; --raw does not', () => {
    expect(promptIds('name : Eagle', false)).toEqual([...encodeText('name : Eagle'), EOS]);
    expect(promptIds('name : Eagle', true)).toEqual(encodeText('name : Eagle'));
  });

  it('greedy and beam search return the requested number of tokens', async () => {
    const prompt = 'name : The Eagle | Type : pub';
    const [greedy, beam] = await Promise.all([
      runCli(['generate', '--model', fixture.model(), '--prompt', prompt, '--max-new-tokens', '7']),
      runCli(['generate', '--model', fixture.model(), '--prompt', prompt, '--max-new-tokens', '5', '--beam', '3']),
    ]);
    for (const r of [greedy, beam]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.prompt).toBe(prompt);
      const { tokens, stopped, completion } = r.json as { tokens: number[]; stopped: boolean; completion: string };
      expect(stopped).toBe(STOP_TOKENS.includes(tokens[tokens.length - 1]));
      expect(completion).toBe(decodeTokens(stopped ? tokens.slice(0, -1) : tokens));
    }
    expectLength(greedy.json.tokens, 7);
    expectLength(beam.json.tokens, 5);
  });

  it('caps the length at the context, and names the problem when the prompt fills it', async () => {
    const long = 'word '.repeat(40);
    const r = await runCli(['generate', '--model', fixture.model(), '--prompt', long, '--raw']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the prompt is \d+ tokens; the model's context is 32/);
  });
});
