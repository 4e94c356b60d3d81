import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';

describe('bench-model command', () => {
  it('--only rejects unknown configs by name', async () => {
    const r = await runCli(['bench-model', '--only', 'nano,huge', '--backend', 'cpu']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--only: unknown config huge; choose from gpt2, nano, mini, gpt2-8x128, gpt2-medium-server/);
  });
});
