#!/usr/bin/env node
// `npm run pretrain:default`: rebuilds the shipped offline default model,
// packages/model/assets/gpt2-restaurants-nano (F16), with `splitlora pretrain` on the seeded
// restaurant corpus of packages/data/src/corpus.ts. The corpus files and the resumable checkpoint
// go to the cache ($SPLITLORA_CACHE or ~/.cache/splitlora, under pretrain-default/), never into
// the repository; an interrupted build continues where it stopped when run again. Training is
// deterministic on wasm, so the same commit gives the same weights.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const { DEFAULT_CORPUS, restaurantCorpus } = await import('../../../packages/data/src/corpus.ts');

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cache = join(process.env.SPLITLORA_CACHE ? resolve(process.env.SPLITLORA_CACHE) : join(homedir(), '.cache', 'splitlora'), 'pretrain-default');
mkdirSync(cache, { recursive: true });
const train = join(cache, 'train.txt');
const heldout = join(cache, 'heldout.txt');
writeFileSync(train, restaurantCorpus(DEFAULT_CORPUS.train).join('\n') + '\n');
writeFileSync(heldout, restaurantCorpus(DEFAULT_CORPUS.heldout).join('\n') + '\n');

const checkpoint = join(cache, 'checkpoint');
const args = [
  'bin/splitlora.mjs', 'pretrain',
  '--layers', '4', '--embd', '64', '--heads', '4', '--positions', '128',
  '--data', train, '--heldout', heldout, '--format', 'text',
  '--steps', '400', '--batch', '16', '--seq-len', '128',
  '--lr', '3e-3', '--warmup', '40', '--schedule', 'cosine', '--min-lr-ratio', '0.1',
  '--eval-every', '50', '--checkpoint-every', '50', '--checkpoint-dir', checkpoint,
  '--seed', '0', '--dtype', 'F16', '--backend', 'wasm',
  '--out', join(root, 'packages/model/assets/gpt2-restaurants-nano'),
  ...(existsSync(join(checkpoint, 'state.json')) || existsSync(join(`${checkpoint}.old`, 'state.json')) ? ['--resume'] : []),
];
console.error(`pretrain:default: node ${args.join(' ')}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
