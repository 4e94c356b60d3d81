// Where things are, for the tests: the checkout, the CLI's entry, the shared fixtures beside it.
// The E2E data's location is decided in one place, @splitlora/data/node (e2e-location.ts);
// its look-ups are re-exported here, not repeated.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, with a trailing slash. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI's entry, relative to REPO_ROOT (runCli's cwd). */
export const CLI_BIN = 'bin/splitlora.mjs';
/** The shared folder beside the checkout: fixtures and, on this project's machines, the E2E data. */
export const SHARED_DIR = resolve(REPO_ROOT, '../shared');
/** The tiny HF GPT-2 checkpoint (F16, `transformer.` prefix) with PyTorch's expected numbers. */
export const TINY_HF_FIXTURE = join(SHARED_DIR, 'fixtures/gpt2-tiny-hf');
export const hasTinyHfFixture = existsSync(join(TINY_HF_FIXTURE, 'model.safetensors'));

export { E2E_SKIP_NOTE, e2eTitle, findE2EData, findE2EFile } from '@splitlora/data/node';
