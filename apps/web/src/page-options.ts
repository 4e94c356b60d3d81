// What the page's URL asks for. Automation (tests, demos) joins with no clicks:
//   ?sample=1&seed=N&n=EXAMPLES&autostart=1   sample shard N, EXAMPLES pairs, join at once
//   ?backend=webgl                            try this tfjs backend first
//   ?record=1                                 keep adapters in window.__splitlora.events
//   ?webglMaxTexture=N                        let WebGL make textures of at most N texels a side,
//                                             as a GPU with that limit would (tests the fall-back)
//   ?nodes=http://h1:3001,http://h2:3002      train through these cluster nodes, failing over in
//                                             this order (default: the nodes the coordinator
//                                             lists, else this page's server)
//   ?failoverMs=N                             how long a lost node may take to come back first
import { parseNodeUrls } from '@splitlora/client';

export interface PageOptions {
  sample: boolean;
  /** Seed of the sample shard and of the data order. */
  seed: number;
  /** Examples in the sample shard. */
  n: number;
  autostart: boolean;
  backend: string | null;
  /** Record adapter values in the test hook (on by default under automation). */
  record: boolean;
  webglMaxTexture: number | null;
  /** The ?nodes= list (origins), or null when the URL gives none. */
  nodes: string[] | null;
  /** Why ?nodes= was refused; the page then does not join. */
  nodesError: string | null;
  failoverMs: number | null;
}

const DEFAULT_SAMPLE_SIZE = 200;
const MAX_SAMPLE_SIZE = 100_000;

function flag(p: URLSearchParams, name: string): boolean {
  const v = p.get(name);
  return v !== null && v !== '0' && v !== 'false';
}

function int(p: URLSearchParams, name: string, min: number, max: number): number | null {
  const v = Number(p.get(name) ?? NaN);
  return Number.isInteger(v) && v >= min && v <= max ? v : null;
}

function nodeList(p: URLSearchParams): { nodes: string[] | null; nodesError: string | null } {
  const v = p.get('nodes');
  if (v === null) return { nodes: null, nodesError: null };
  try {
    return { nodes: parseNodeUrls(v), nodesError: null };
  } catch (e) {
    return { nodes: null, nodesError: `?${(e as Error).message}` };
  }
}

export function readPageOptions(search: string, automated: boolean): PageOptions {
  const p = new URLSearchParams(search);
  return {
    ...nodeList(p),
    failoverMs: int(p, 'failoverMs', 100, 600_000),
    sample: flag(p, 'sample'),
    seed: int(p, 'seed', 0, 2 ** 31 - 1) ?? Math.floor(Math.random() * 2 ** 31),
    n: int(p, 'n', 1, MAX_SAMPLE_SIZE) ?? DEFAULT_SAMPLE_SIZE,
    autostart: flag(p, 'autostart'),
    backend: p.get('backend'),
    record: automated || flag(p, 'record'),
    webglMaxTexture: int(p, 'webglMaxTexture', 1, 1 << 16),
  };
}
