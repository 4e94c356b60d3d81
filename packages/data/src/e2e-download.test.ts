// installE2E against a local HTTP server serving fixture bytes (never the network), and the
// checksums of e2e-files.ts against the real files where this checkout has them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { E2EDataError, checkE2EBytes, e2eFileList, installE2E } from './e2e-download';
import type { E2EFile } from './e2e-files';
import { REPO_ROOT, e2eTitle, findE2EData } from './e2e-location';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const src = (path: string) => ({ repo: 'owner/e2e', commit: 'c0ffee', path });

const TEST_TXT = 'name : A||a one . \nname : B||b one . \nname : A||a two . \n';
const GROUPED = 'a one .\na two .\n\nb one .\n\n';
const MRS = 'name : A\nname : B\n';
// 300 kB of seeded bytes: the server can cut it part way.
const BIG = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff);
// `git hash-object` of "hello\n": a train-split file is checked by its git blob id.
const HELLO_BLOB = 'ce013625030ba8dba906f756967f9e9ca394464a';

const FILES: E2EFile[] = [
  { path: 'lora-format/test.txt', source: src('data/test.txt'), size: TEST_TXT.length, sha256: sha256(TEST_TXT) },
  { path: 'official-csv/big.csv', source: src('big.csv'), size: BIG.length, sha256: sha256(BIG) },
  { path: 'official-csv/train.csv', source: src('train.csv'), gitBlob: HELLO_BLOB },
  { path: 'lora-format/test_refs_grouped.txt', size: GROUPED.length, sha256: sha256(GROUPED) },
  { path: 'lora-format/test_mrs_unique.txt', size: MRS.length, sha256: sha256(MRS) },
];

interface Served {
  bytes: Uint8Array;
  /** Send the full Content-Length, then only this many bytes, then drop the connection. */
  cutAt?: number;
  /** Answer a Range request with the whole file (200), as a server without Range support does. */
  noRange?: boolean;
}

describe('installE2E over HTTP', () => {
  const served = new Map<string, Served>();
  const requests: { url: string; range?: string }[] = [];
  let server: Server;
  let base: string;
  let tmp: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ url: req.url!, range: req.headers.range });
      const s = served.get(req.url!);
      if (!s) return void res.writeHead(404).end();
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m && !s.noRange) {
        const from = Number(m[1]);
        if (from >= s.bytes.length) return void res.writeHead(416, { 'content-range': `bytes */${s.bytes.length}` }).end();
        res.writeHead(206, { 'content-length': s.bytes.length - from, 'content-range': `bytes ${from}-${s.bytes.length - 1}/${s.bytes.length}` });
        return void res.end(s.bytes.subarray(from));
      }
      res.writeHead(200, { 'content-length': s.bytes.length });
      if (s.cutAt === undefined) return void res.end(s.bytes);
      res.write(s.bytes.subarray(0, s.cutAt), () => setTimeout(() => res.destroy(), 50));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const serveAll = (over: Partial<Record<string, Served>> = {}) => {
    served.clear();
    requests.length = 0;
    served.set('/owner/e2e/c0ffee/data/test.txt', { bytes: new TextEncoder().encode(TEST_TXT) });
    served.set('/owner/e2e/c0ffee/big.csv', { bytes: BIG });
    served.set('/owner/e2e/c0ffee/train.csv', { bytes: new TextEncoder().encode('hello\n') });
    for (const [k, v] of Object.entries(over)) served.set(k, v!);
  };
  const fresh = () => (tmp = mkdtempSync(join(tmpdir(), 'splitlora-e2e-dl-')));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('downloads, checks and derives every file; a second run only checks', async () => {
    serveAll();
    const dir = join(fresh(), 'e2e');
    const progress: number[] = [];
    const r = await installE2E({ dir, files: FILES, baseUrl: base, onProgress: (p) => p.file === 'official-csv/big.csv' && progress.push(p.received) });
    expect(r.files).toEqual([
      { path: 'lora-format/test.txt', action: 'downloaded' },
      { path: 'official-csv/big.csv', action: 'downloaded' },
      { path: 'official-csv/train.csv', action: 'downloaded' },
      { path: 'lora-format/test_refs_grouped.txt', action: 'derived' },
      { path: 'lora-format/test_mrs_unique.txt', action: 'derived' },
    ]);
    expect(readFileSync(join(dir, 'official-csv/big.csv'))).toEqual(Buffer.from(BIG));
    expect(readFileSync(join(dir, 'lora-format/test_refs_grouped.txt'), 'utf8')).toBe(GROUPED);
    expect(readFileSync(join(dir, 'lora-format/test_mrs_unique.txt'), 'utf8')).toBe(MRS);
    expect(progress.at(-1)).toBe(BIG.length);
    expect(requests.map((q) => q.url)).toEqual(['/owner/e2e/c0ffee/data/test.txt', '/owner/e2e/c0ffee/big.csv', '/owner/e2e/c0ffee/train.csv']);

    requests.length = 0;
    const again = await installE2E({ dir, files: FILES, baseUrl: base });
    expect(again.files.every((f) => f.action === 'kept')).toBe(true);
    expect(requests).toEqual([]);
  });

  it('refuses bytes with the wrong checksum and removes them', async () => {
    const bad = new TextEncoder().encode(TEST_TXT.replace('a one', 'a 0ne'));
    serveAll({ '/owner/e2e/c0ffee/data/test.txt': { bytes: bad } });
    const dir = join(fresh(), 'e2e');
    const err = await installE2E({ dir, files: FILES, baseUrl: base }).catch((e) => e);
    expect(err).toBeInstanceOf(E2EDataError);
    expect(err.code).toBe('E2E_CHECKSUM');
    expect(err.message).toContain(`${base}/owner/e2e/c0ffee/data/test.txt gave the wrong bytes for lora-format/test.txt (SHA-256 ${sha256(bad)}, expected ${sha256(TEST_TXT)})`);
    expect(err.message).not.toContain('\n');
    expect(existsSync(join(dir, 'lora-format/test.txt'))).toBe(false);
    expect(existsSync(join(dir, 'lora-format/test.txt.part'))).toBe(false);
    // A git-blob-checked file is refused the same way.
    serveAll({ '/owner/e2e/c0ffee/train.csv': { bytes: new TextEncoder().encode('hello') } });
    await expect(installE2E({ dir, files: FILES, baseUrl: base })).rejects.toThrow(`(git blob id b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0, expected ${HELLO_BLOB})`);
  });

  it('resumes an interrupted download with a Range request', async () => {
    serveAll({ '/owner/e2e/c0ffee/big.csv': { bytes: BIG, cutAt: 120_000 } });
    const dir = join(fresh(), 'e2e');
    const err = await installE2E({ dir, files: FILES, baseUrl: base }).catch((e) => e);
    expect(err).toMatchObject({ code: 'E2E_DOWNLOAD' });
    expect(err.message).toMatch(/^could not download official-csv\/big\.csv from http:\/\/127\.0\.0\.1:\d+\/owner\/e2e\/c0ffee\/big\.csv \(/);
    // What is still missing, with where each goes (test.txt is already in place).
    expect(err.missing.map((m: { dest: string }) => m.dest)).toEqual([join(dir, 'official-csv/big.csv'), join(dir, 'official-csv/train.csv')]);
    const part = join(dir, 'official-csv/big.csv.part');
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(120_000);

    serveAll(); // the server now sends whole files and honours Range
    const r = await installE2E({ dir, files: FILES, baseUrl: base });
    expect(r.files.find((f) => f.path === 'official-csv/big.csv')?.action).toBe('resumed');
    expect(requests.find((q) => q.url.endsWith('/big.csv'))?.range).toBe(`bytes=${kept}-`);
    expect(readFileSync(join(dir, 'official-csv/big.csv'))).toEqual(Buffer.from(BIG));
    expect(existsSync(part)).toBe(false);
  });

  it('starts over when the server ignores the Range', async () => {
    serveAll({ '/owner/e2e/c0ffee/big.csv': { bytes: BIG, noRange: true } });
    const dir = join(fresh(), 'e2e');
    mkdirSync(join(dir, 'official-csv'), { recursive: true });
    writeFileSync(join(dir, 'official-csv/big.csv.part'), BIG.subarray(0, 1000));
    const r = await installE2E({ dir, files: FILES, baseUrl: base });
    expect(r.files.find((f) => f.path === 'official-csv/big.csv')?.action).toBe('downloaded');
    expect(readFileSync(join(dir, 'official-csv/big.csv'))).toEqual(Buffer.from(BIG));
  });

  it('offline: --from copies and checks files laid side by side, and names what is missing', async () => {
    const from = join(fresh(), 'from');
    const dir = join(tmp, 'e2e');
    mkdirSync(from);
    writeFileSync(join(from, 'test.txt'), TEST_TXT);
    writeFileSync(join(from, 'big.csv'), BIG);
    const missing = await installE2E({ dir, from, files: FILES, baseUrl: base }).catch((e) => e);
    expect(missing).toMatchObject({ code: 'E2E_FROM_MISSING', missing: [{ url: `${base}/owner/e2e/c0ffee/train.csv`, dest: join(from, 'train.csv') }] });
    expect(missing.message).toBe(`${from} lacks train.csv; download it from the URLs below into that directory, then run again`);

    writeFileSync(join(from, 'train.csv'), 'hello\n');
    const r = await installE2E({ dir, from, files: FILES, baseUrl: base });
    expect(r.files.map((f) => f.action)).toEqual(['copied', 'copied', 'copied', 'derived', 'derived']);
    expect(readFileSync(join(dir, 'lora-format/test_mrs_unique.txt'), 'utf8')).toBe(MRS);

    writeFileSync(join(from, 'big.csv'), BIG.subarray(1));
    rmSync(join(dir, 'official-csv/big.csv'));
    await expect(installE2E({ dir, from, files: FILES, baseUrl: base })).rejects.toThrow(
      `${join(from, 'big.csv')} is not the expected official-csv/big.csv (expected ${BIG.length} bytes, got ${BIG.length - 1})`,
    );
  });

  it('npm run data:e2e with no network: exit 1, the URLs and where each goes, no stack trace', async () => {
    const dir = join(fresh(), 'e2e');
    // A port nothing listens on (the server above, closed again) stands in for no network.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const run = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'packages/data/src/e2e-download-main.ts'), '--dir', dir, '--base-url', `http://127.0.0.1:${port}`], { cwd: REPO_ROOT })
      .then(() => ({ code: 0, stderr: '' }), (e) => ({ code: e.code as number, stderr: e.stderr as string }));
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines[1]).toMatch(/^data:e2e: could not download lora-format\/valid\.txt from http:\/\/127\.0\.0\.1:\d+\/microsoft\/LoRA\/c4593f06\w+\/examples\/NLG\/data\/e2e\/valid\.txt \(connect ECONNREFUSED .*\); if this machine is offline/);
    const upstream = e2eFileList().filter((f) => f.source);
    for (const f of upstream) expect(run.stderr).toContain(`-> ${join(dir, f.path)}`);
    expect(run.stderr).toContain(`  http://127.0.0.1:${port}/tuetschek/e2e-dataset/ab0d967dd5729ce455ef14ba9ffafc456a335264/devset.csv\n`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);
});

// The checksums in e2e-files.ts are those of the real files, where this checkout has them.
const DATA = findE2EData();
const HAVE_ALL = DATA !== undefined && e2eFileList().every((f) => existsSync(join(DATA, f.path)));
describe.skipIf(!HAVE_ALL)(e2eTitle('the E2E data in place', HAVE_ALL ? DATA : undefined), () => {
  it('matches every size and SHA-256 of e2e-files.ts', () => {
    for (const f of e2eFileList()) expect(checkE2EBytes(f, readFileSync(join(DATA!, f.path))), f.path).toBeNull();
  });
});
