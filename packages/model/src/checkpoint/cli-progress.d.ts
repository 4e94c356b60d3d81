// Minimal types for cli-progress 3.x (no @types package is installed); only what hub-node.ts uses.
declare module 'cli-progress' {
  interface BarOptions {
    format?: string;
    stream?: NodeJS.WritableStream;
    hideCursor?: boolean;
    clearOnComplete?: boolean;
    barsize?: number;
    fps?: number;
  }
  class SingleBar {
    constructor(opts: BarOptions, preset?: unknown);
    start(total: number, startValue: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    stop(): void;
  }
  const cliProgress: { SingleBar: typeof SingleBar; Presets: Record<string, unknown> };
  export default cliProgress;
}
