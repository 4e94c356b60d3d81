// This tab's identity in the current run, kept in sessionStorage: a reloaded tab comes back as the
// same volunteer and the server hands it its checkpointed training state. sessionStorage is per
// tab, so two tabs never share one (a duplicated tab copies it; the server refuses the copy and
// the Volunteer joins as new).
import { NOISE_KEY_BYTES, newNoiseKey, type VolunteerIdentity } from '@splitlora/client';

const KEY = 'splitlora.volunteer';

export function loadIdentity(storage: Pick<Storage, 'getItem'>): VolunteerIdentity | null {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? 'null') as Partial<VolunteerIdentity> | null;
    return v && typeof v.clientId === 'string' && typeof v.resumeToken === 'string' ? { clientId: v.clientId, resumeToken: v.resumeToken } : null;
  } catch {
    return null; // unreadable: join as new
  }
}

const NOISE_KEY = 'splitlora.noiseKey';

/**
 * This tab's secret key of the activation noise (run setting actNoise), made once from the CSPRNG
 * and kept beside the identity (hex): a step redone after a reload or a server restart then sends
 * the same noise again, so the server never gets two independent draws of one batch to average.
 * Never sent.
 */
export function loadNoiseKey(storage: Pick<Storage, 'getItem' | 'setItem'>): Uint8Array {
  try {
    const hex = storage.getItem(NOISE_KEY) ?? '';
    if (new RegExp(`^[0-9a-f]{${2 * NOISE_KEY_BYTES}}$`).test(hex)) return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
  } catch {
    // unreadable: make a new one
  }
  const fresh = newNoiseKey();
  try {
    storage.setItem(NOISE_KEY, Array.from(fresh, (b) => b.toString(16).padStart(2, '0')).join(''));
  } catch {
    // storage disabled: this tab's key lasts until it reloads
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
