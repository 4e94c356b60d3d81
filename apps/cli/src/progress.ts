// A cli-progress bar on stderr, shown only on a terminal (piped stderr stays free of escape codes).
import cliProgress from 'cli-progress';
import type { ExperimentHooks } from '@splitlora/lab';
import { log } from './output';

export interface Progress {
  update(done: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/** `format` may use cli-progress tokens ({bar}, {value}, {total}, {eta_formatted}) and payload keys. */
export function progressBar(total: number, format: string, show = process.stderr.isTTY === true): Progress {
  if (!show || total <= 1) return NONE;
  const bar = new cliProgress.SingleBar({ format, stream: process.stderr, hideCursor: true, clearOnComplete: false });
  bar.start(total, 0);
  return { update: (done, payload) => bar.update(done, payload), stop: () => bar.stop() };
}

/** Hooks for a lab experiment: the log on stderr, and a bar per phase drawn in `format(label)` (the note is {note}). */
export function experimentHooks(format: (label: string) => string): ExperimentHooks {
  return {
    log,
    progress: (label, total) => {
      const bar = progressBar(total, format(label));
      return { update: (done, note) => bar.update(done, { note: note ?? '' }), stop: () => bar.stop() };
    },
  };
}
