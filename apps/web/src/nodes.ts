// Which servers the page trains through. By default its own origin, with one socket, exactly as
// without a cluster. With ?nodes= (or nodes the coordinator lists at /api/nodes) the volunteer
// gets the list and fails over between them; the model still downloads from this origin.
import type { VolunteerEvent } from '@splitlora/client';

export interface NodeChoice {
  /** The node list, or null: one socket to the page's origin. */
  urls: string[] | null;
  /** Where the list came from, for the log. */
  source: 'page' | 'url' | 'coordinator';
}

/**
 * ?nodes= as given; else the coordinator's list, starting at a random node (`pick`, in [0, 1)) so
 * that pages spread over the nodes; else null. A coordinator that cannot say is the same as none.
 */
export async function chooseNodes(fromUrl: string[] | null, listed: () => Promise<string[]>, pick: number): Promise<NodeChoice> {
  if (fromUrl) return { urls: fromUrl, source: 'url' };
  const urls = await listed().catch(() => [] as string[]);
  if (urls.length === 0) return { urls: null, source: 'page' };
  const start = Math.min(Math.floor(pick * urls.length), urls.length - 1);
  return { urls: [...urls.slice(start), ...urls.slice(0, start)], source: 'coordinator' };
}

/** The status panel's "Server" cell: the node now and the failovers so far. */
export class NodeStatus {
  failovers = 0;
  current: string;

  constructor(first: string) {
    this.current = first;
  }

  /** Takes a failover event; returns the log line for it (null for other events). */
  see(e: VolunteerEvent): string | null {
    if (e.type !== 'failover') return null;
    this.failovers += 1;
    this.current = e.to;
    return `lost ${e.from} (${e.reason}); moving to ${e.to}`;
  }

  get text(): string {
    const host = this.current.replace(/^https?:\/\//, '');
    return this.failovers === 0 ? host : `${host} (${this.failovers} failover${this.failovers === 1 ? '' : 's'})`;
  }
}
