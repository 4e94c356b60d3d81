// `splitlora pretrain` end to end (subprocesses): a stopped and resumed run writes the same bytes
// as an uninterrupted one, and `score` reads what it writes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restaurantCorpus } from '@splitlora/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';

let tmp: string;
let data: string;
const arch = ['--layers', '1', '--embd', '16', '--heads', '2', '--positions', '64'];
const common = (out: string) => ['pretrain', ...arch, '--data', data, '--heldout-examples', '20', '--steps', '6', '--batch', '4', '--lr', '1e-2', '--warmup', '2', '--eval-every', '3', '--checkpoint-every', '2', '--backend', 'wasm', '--out', out];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-pretrain-cli-'));
  data = join(tmp, 'corpus.txt');
  await writeFile(data, restaurantCorpus({ n: 100, seed: 3 }).join('\n') + '\n');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('pretrain command', () => {
  it('--stop-at then --resume gives the bytes of an uninterrupted run; score reads the result', async () => {
    const [straight, resumed] = [join(tmp, 'straight'), join(tmp, 'resumed')];
    const a = await runCli(common(straight));
    expect(a.code, a.stderr).toBe(0);
    expect(a.json).toMatchObject({ step: 6, steps: 6, out: straight });
    expect(a.json.heldoutNll).toBeLessThan(Math.log(50257));

    const half = await runCli([...common(resumed), '--stop-at', '3']);
    expect(half.code, half.stderr).toBe(0);
    expect(half.json).toMatchObject({ step: 3, out: null });
    const again = await runCli(common(resumed));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pass --resume');
    const rest = await runCli([...common(resumed), '--resume']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stderr).toContain('resuming');
    expect((await readFile(join(resumed, 'model.safetensors'))).equals(await readFile(join(straight, 'model.safetensors')))).toBe(true);
    expect(rest.json.heldoutNll).toBe(a.json.heldoutNll);

    const heldout = join(tmp, 'heldout.txt');
    await writeFile(heldout, (await readFile(data, 'utf8')).trim().split('\n').slice(-20).join('\n') + '\n');
    const score = await runCli(['score', '--model', straight, '--data', heldout, '--format', 'text', '--backend', 'wasm']);
    expect(score.code, score.stderr).toBe(0);
    expect(score.json.meanNll).toBeCloseTo(a.json.heldoutNll, 4);
  }, 180_000);

  it('says what is wrong: no architecture, a changed setting on --resume', async () => {
    const none = await runCli(['pretrain', '--data', data, '--steps', '2', '--out', join(tmp, 'x')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('needs --model DIR, --preset NAME, or all of --layers, --embd and --heads');
    const out = join(tmp, 'changed');
    expect((await runCli([...common(out), '--stop-at', '2'])).code).toBe(0);
    const changed = await runCli([...common(out), '--resume', '--batch', '5']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('made with other settings or data');
  }, 120_000);
});
