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

export function saveIdentity(storage: Pick<Storage, 'setItem'>, id: VolunteerIdentity): void {
  try {
    storage.setItem(KEY, JSON.stringify(id));
  } catch {
    // storage full or disabled: the tab still works, it just cannot come back as itself
  }
}
