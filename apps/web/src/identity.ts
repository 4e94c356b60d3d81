// This tab's identity in the current run, kept in sessionStorage: a reloaded tab comes back as the
// same volunteer and the server hands it its checkpointed training state. sessionStorage is per
// tab, so two tabs never share one (a duplicated tab copies it; the server refuses the copy and
// the Volunteer joins as new).
import type { VolunteerIdentity } from '@splitlora/client';

const KEY = 'splitlora.volunteer';

export function loadIdentity(storage: Pick<Storage, 'getItem'>): VolunteerIdentity | null {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? 'null') as Partial<VolunteerIdentity> | null;
    return v && typeof v.clientId === 'string' && typeof v.resumeToken === 'string' ? { clientId: v.clientId, resumeToken: v.resumeToken } : null;
  } catch {
    return null; // unreadable: join as new
  }
}

const NOISE_KEY = 'splitlora.noiseSeed';

/**
 * This tab's secret seed of the activation noise (run setting actNoise), made once and kept beside
 * the identity: a step redone after a reload or a server restart then sends the same noise again,
 * so the server never gets two independent draws of one batch to average. Never sent.
 */
export function loadNoiseSeed(storage: Pick<Storage, 'getItem' | 'setItem'>): number {
  try {
    const v = Number(storage.getItem(NOISE_KEY));
    if (Number.isInteger(v) && v > 0 && v < 2 ** 32) return v;
  } catch {
    // unreadable: make a new one
  }
  const fresh = crypto.getRandomValues(new Uint32Array(1))[0] || 1;
  try {
    storage.setItem(NOISE_KEY, String(fresh));
  } catch {
    // storage disabled: this tab's seed lasts until it reloads
  }
  return fresh;
}

export function saveIdentity(storage: Pick<Storage, 'setItem'>, id: VolunteerIdentity): void {
  try {
    storage.setItem(KEY, JSON.stringify(id));
  } catch {
    // storage full or disabled: the tab still works, it just cannot come back as itself
  }
}
