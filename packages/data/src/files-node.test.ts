import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataFile } from './files-node';

describe('readDataFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'splitlora-data-'));

  it('reads and parses by extension', async () => {
    const p = path.join(dir, 'pairs.jsonl');
    writeFileSync(p, '{"context":"a","completion":"b"}\nnot json\n');
    await expect(readDataFile(p, 'auto', { skipBad: true })).resolves.toEqual({
      examples: [{ context: 'a', completion: 'b' }],
      skipped: 1,
    });
    await expect(readDataFile(p)).rejects.toThrow(`${p}:2: invalid JSON`);
  });

  it('names the missing path', async () => {
    const p = path.join(dir, 'nope.txt');
    await expect(readDataFile(p)).rejects.toMatchObject({
      code: 'DATA_FILE_NOT_FOUND',
      message: expect.stringContaining(`data file not found: ${p}`),
    });
  });
});
