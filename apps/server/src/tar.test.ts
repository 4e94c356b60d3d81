import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTar, writeTar } from './tar';

const hasTar = (() => {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const entries = [
  { name: 'client/adapter_config.json', data: new TextEncoder().encode('{"r": 4}\n') },
  { name: 'client/adapter_model.safetensors', data: Uint8Array.from({ length: 1500 }, (_, j) => (j * 7) & 0xff) },
  { name: 'empty.txt', data: new Uint8Array(0) },
];

describe('tar', () => {
  it('reads back what it wrote, 512-byte aligned', () => {
    const tar = writeTar(entries, 0);
    expect(tar.length % 512).toBe(0);
    expect(tar.length).toBe(512 + 512 + (512 + 1536) + 512 + 1024);
    const back = readTar(tar);
    expect(back.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    back.forEach((e, j) => expect(Array.from(e.data)).toEqual(Array.from(entries[j].data)));
  });

  it('refuses names over 100 bytes', () => {
    expect(() => writeTar([{ name: 'x'.repeat(101), data: new Uint8Array(1) }])).toThrow(/longer than 100 bytes/);
  });

  it.skipIf(!hasTar)('is read by the system tar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'splitlora-tar-'));
    try {
      writeFileSync(join(dir, 'a.tar'), writeTar(entries));
      expect(execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' }).trim().split('\n')).toEqual(entries.map((e) => e.name));
      execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
      expect(Array.from(readFileSync(join(dir, 'client/adapter_model.safetensors')))).toEqual(Array.from(entries[1].data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
