import { describe, expect, it } from 'vitest';
import { formatAgo, formatDuration, shortUserAgent } from './format';

describe('dashboard formats', () => {
  it('says how long ago', () => {
    expect(formatAgo(10_000, 10_200)).toBe('now');
    expect(formatAgo(10_000, 13_000)).toBe('3 s ago');
    expect(formatAgo(0, 4 * 60_000 + 5000)).toBe('4 min ago');
    expect(formatAgo(0, 2 * 3_600_000)).toBe('2 h ago');
    expect(formatAgo(5000, 1000)).toBe('now'); // a clock a little ahead is not "in the future"
  });

  it('formats durations', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
  });

  it('shortens user agents to browser and OS', () => {
    expect(shortUserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36')).toBe('Chrome 156 · Linux');
    expect(shortUserAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15')).toBe('Safari 17 · macOS');
    expect(shortUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('Firefox 128 · Windows');
    expect(shortUserAgent('node')).toBe('node');
  });
});
