// Short human forms of times and numbers for the dashboard's tables.
export { formatBytes, formatLoss, formatRate } from '../format';

/** "now", "3 s ago", "4 min ago", "2 h ago" for a past instant (both in ms). */
export function formatAgo(then: number, now: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 1) return 'now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
}

export function formatClock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Browser and OS from a user-agent string, e.g. "Chrome 156 · Linux"; the full string goes in a tooltip. */
export function shortUserAgent(ua: string): string {
  const browser = /(Edg|OPR|Firefox|Chrome|Chromium|Version)\/(\d+)/.exec(ua);
  const name = browser ? ({ Edg: 'Edge', OPR: 'Opera', Version: 'Safari' } as Record<string, string>)[browser[1]] ?? browser[1] : null;
  const os = /Windows|Android|iPhone|iPad|Mac OS X|Linux|CrOS/.exec(ua)?.[0]?.replace('Mac OS X', 'macOS') ?? null;
  const head = name ? `${name} ${browser![2]}` : ua.slice(0, 24);
  return os ? `${head} · ${os}` : head;
}
