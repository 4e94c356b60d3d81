// The page's node choice: ?nodes= (validated), else the coordinator's list, else its own origin;
// and what the status panel says after failovers.
import { describe, expect, it } from 'vitest';
import { NodeStatus, chooseNodes } from './nodes';
import { readPageOptions } from './page-options';

describe('?nodes= on the volunteer page', () => {
  it('reads a list of node origins, in order', () => {
    const o = readPageOptions('?sample=1&nodes=http://h1:3001,http://h2:3002&failoverMs=2000', false);
    expect(o.nodes).toEqual(['http://h1:3001', 'http://h2:3002']);
    expect(o.nodesError).toBeNull();
    expect(o.failoverMs).toBe(2000);
    // URL-encoded, as a link or a form would write it.
    expect(readPageOptions(`?nodes=${encodeURIComponent('http://h1:3001, http://h2:3002')}`, false).nodes).toEqual(['http://h1:3001', 'http://h2:3002']);
  });

  it('has no list without the parameter, and says what is wrong with a malformed one', () => {
    expect(readPageOptions('?sample=1', false)).toMatchObject({ nodes: null, nodesError: null, failoverMs: null });
    const bad = readPageOptions('?nodes=http://h1:3001,h2:3002', false);
    expect(bad.nodes).toBeNull();
    expect(bad.nodesError).toMatch(/"h2:3002" is not an http\(s\) URL/);
    expect(readPageOptions('?nodes=', false).nodesError).toMatch(/empty/);
    expect(readPageOptions('?nodes=http://h1:3001/ws', false).nodesError).toMatch(/namespace/);
    expect(readPageOptions('?failoverMs=5', false).failoverMs).toBeNull();
  });
});

describe('chooseNodes', () => {
  const listed = (urls: string[]) => async () => urls;

  it('takes the page URL\'s list as given, without asking the coordinator', async () => {
    let asked = false;
    const c = await chooseNodes(['http://b:2', 'http://a:1'], async () => { asked = true; return ['http://x:9']; }, 0.99);
    expect(c).toEqual({ urls: ['http://b:2', 'http://a:1'], source: 'url' });
    expect(asked).toBe(false);
  });

  it('starts the coordinator\'s list at a random node, keeping its order round the list', async () => {
    const urls = ['http://a:1', 'http://b:2', 'http://c:3'];
    expect((await chooseNodes(null, listed(urls), 0)).urls).toEqual(urls);
    expect((await chooseNodes(null, listed(urls), 0.5)).urls).toEqual(['http://b:2', 'http://c:3', 'http://a:1']);
    expect((await chooseNodes(null, listed(urls), 0.999)).urls).toEqual(['http://c:3', 'http://a:1', 'http://b:2']);
    expect((await chooseNodes(null, listed(urls), 0.5)).source).toBe('coordinator');
  });

  it('falls back to one socket to the page\'s origin when no node is listed or the list cannot be read', async () => {
    expect(await chooseNodes(null, listed([]), 0.3)).toEqual({ urls: null, source: 'page' });
    expect(await chooseNodes(null, async () => { throw new Error('HTTP 500'); }, 0.3)).toEqual({ urls: null, source: 'page' });
  });
});

describe('NodeStatus', () => {
  it('shows the node now and counts failovers', () => {
    const s = new NodeStatus('http://h1:3001');
    expect(s.text).toBe('h1:3001');
    expect(s.see({ type: 'log', message: 'x' })).toBeNull();
    expect(s.see({ type: 'failover', from: 'http://h1:3001', to: 'http://h2:3002', reason: 'connection lost: transport close' })).toBe('lost http://h1:3001 (connection lost: transport close); moving to http://h2:3002');
    expect(s.text).toBe('h2:3002 (1 failover)');
    s.see({ type: 'failover', from: 'http://h2:3002', to: 'http://h1:3001', reason: 'r' });
    expect(s.text).toBe('h1:3001 (2 failovers)');
  });
});
