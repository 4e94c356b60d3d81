// A cli-progress bar on stderr, shown only on a terminal (piped stderr stays free of escape codes).
import cliProgress from 'cli-progress';

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
