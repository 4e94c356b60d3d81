// One shape for every experiment: options in, a result out, then a report of that result. A CLI
// command builds the options from its flags (resolving the model, data and engine), calls `run`,
// then `report`, and prints what the report gives back.

/** Progress of one phase, `done` out of the total it was started with; the CLI draws a bar. */
export interface Progress {
  update(done: number, note?: string): void;
  stop(): void;
}

export const NO_PROGRESS: Progress = { update() {}, stop() {} };

export interface ExperimentHooks {
  /** One line for the log (the CLI writes it to stderr). */
  log(message: string): void;
  /** Starts the progress of a phase of `total` units (default: none shown). */
  progress?(label: string, total: number): Progress;
}

/** What a report gives back: the JSON result, a summary for a reader, and the files written. */
export interface ExperimentReport {
  json: object;
  text?: string;
  files: string[];
}

export interface Experiment<Options, Result> {
  name: string;
  /** One line: what it measures. */
  description: string;
  /** Defaults of the options a caller may leave out (the CLI's flag defaults). */
  defaults: Partial<Options>;
  run(options: Options, hooks: ExperimentHooks): Promise<Result>;
  /** Writes the report's files into `dir` (for the experiments that write any). */
  report(result: Result, dir?: string): Promise<ExperimentReport>;
}

/** The progress hook, or none. */
export function startProgress(hooks: ExperimentHooks, label: string, total: number): Progress {
  return hooks.progress?.(label, total) ?? NO_PROGRESS;
}
