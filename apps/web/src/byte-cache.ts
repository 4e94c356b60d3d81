// A ByteCache on the browser's Cache Storage, so a second visit downloads no model bytes.
// Model URLs carry the content hash, so a cached entry never goes stale; entries of other
// hashes are dropped when a new model arrives, since only one model is useful at a time.
import type { ByteCache } from '@splitlora/client';

const CACHE_NAME = 'splitlora-models';

/** Returns null where Cache Storage is missing (insecure context, some private modes). */
export function browserByteCache(): ByteCache | null {
  if (typeof caches === 'undefined') return null;
  return {
    async get(url) {
      try {
        const hit = await (await caches.open(CACHE_NAME)).match(url);
        return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
      } catch {
        return null; // a broken cache only costs a download
      }
    },
    async put(url, bytes) {
      try {
        const cache = await caches.open(CACHE_NAME);
        for (const old of await cache.keys()) if (old.url !== url) await cache.delete(old);
        // Downloaded bytes sit on a plain ArrayBuffer (never shared memory), which Response accepts.
        await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }));
      } catch {
        // Quota exceeded or storage disabled: training works without the cache.
      }
    },
  };
}
