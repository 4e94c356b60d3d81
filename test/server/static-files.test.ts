// The web app's static files: what `vite build` copies from public/ is served, and /dashboard
// (with or without a slash) leads to the dashboard page.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDataFile } from '@splitlora/data';
import { buildApp } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN } from '../support/server-harness';

const publicDir = fileURLToPath(new URL('../../public', import.meta.url));

describe('static files', () => {
  // A stand-in for dist/web: public/ as vite copies it, plus the two pages.
  const webDir = mkdtempSync(join(tmpdir(), 'splitlora-web-'));
  let app: FastifyInstance;
  beforeAll(async () => {
    cpSync(publicDir, webDir, { recursive: true });
    writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>volunteer</title>');
    writeFileSync(join(webDir, 'dashboard.html'), '<!doctype html><title>dashboard</title>');
    ({ app } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights: tinyWeights() }, token: TOKEN, webDir }));
  });
  afterAll(async () => {
    await app?.close();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('serves the favicon and robots.txt from public/', async () => {
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(icon.body).toBe(readFileSync(join(publicDir, 'favicon.svg'), 'utf8'));
    const robots = await app.inject({ method: 'GET', url: '/robots.txt' });
    expect(robots.statusCode).toBe(200);
    expect(robots.body).toContain('Disallow: /');
  });

  it('serves an example shard that the page\'s own parser reads', async () => {
    const res = await app.inject({ method: 'GET', url: '/example-shard.jsonl' });
    expect(res.statusCode).toBe(200);
    const parsed = parseDataFile(res.body, 'example-shard.jsonl', 'auto', { skipBad: false });
    expect(parsed.skipped).toBe(0);
    expect(parsed.examples.length).toBeGreaterThan(10);
    expect(parsed.examples[0].context.length).toBeGreaterThan(0);
    expect(parsed.examples[0].completion.length).toBeGreaterThan(0);
  });

  it('redirects /dashboard and /dashboard/ to the dashboard page, keeping the query', async () => {
    for (const url of ['/dashboard', '/dashboard/']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(302);
      expect(res.headers.location, url).toBe('/dashboard.html');
    }
    const withQuery = await app.inject({ method: 'GET', url: '/dashboard?run=abc' });
    expect(withQuery.headers.location).toBe('/dashboard.html?run=abc');
    const page = await app.inject({ method: 'GET', url: '/dashboard.html' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>dashboard</title>');
  });
});
