// `splitlora node --public-url`: a malformed URL is refused with one clear line, before anything starts.
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';

describe('splitlora node --public-url', () => {
  it('refuses what is not one node origin', async () => {
    const [bare, path, two] = await Promise.all([
      runCli(['node', '--redis', 'redis://127.0.0.1:1', '--public-url', 'h2:3002']),
      runCli(['node', '--redis', 'redis://127.0.0.1:1', '--public-url', 'http://h2:3002/socket']),
      runCli(['node', '--redis', 'redis://127.0.0.1:1', '--public-url', 'http://h1:1,http://h2:2']),
    ]);
    for (const r of [bare, path, two]) {
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
    }
    expect(bare.stderr).toMatch(/^splitlora: error: --public-url: "h2:3002" is not an http\(s\) URL; expected http:\/\/HOST:PORT$/m);
    expect(path.stderr).toMatch(/^splitlora: error: --public-url: .*namespace$/m);
    expect(two.stderr).toMatch(/^splitlora: error: --public-url http:\/\/h1:1,http:\/\/h2:2: one URL, this node's$/m);
  });
});
