// The real server for the browser specs: buildApp in this process on a tiny random GPT-2, serving
// the test build of the pages (dist/web-test: the production pages plus window.__splitlora) on
// loopback, which is a secure context, so navigator.gpu exists.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights } from '@splitlora/model';
import { buildApp } from '@splitlora/server';
import { TINY } from '../kit/tiny';

export const webDir = fileURLToPath(new URL('../../dist/web-test', import.meta.url));

/** `page` is the built page the spec needs; `wteScale` widens the embeddings so LoRA can move the tied head's logits. */
export async function startWebServer(opts: { id: string; token: string; page: string; wteScale?: number }) {
  if (!existsSync(`${webDir}/${opts.page}`)) throw new Error(`${webDir}/${opts.page} is missing: run "npm run build:web:test" first (npm run test:browser does)`);
  await selectNodeBackend('wasm', () => {});
  const weights = initGpt2Weights(TINY, 1);
  const scale = opts.wteScale ?? 1;
  if (scale !== 1) weights['wte.weight'].data = weights['wte.weight'].data.map((x) => x * scale);
  const { app, manager } = await buildApp({ model: { id: opts.id, config: TINY, weights }, token: opts.token, webDir, backend: 'wasm' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, manager, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}
