// Minimal types for better-sqlite3 12.x (no @types package is installed); only what store.ts uses.
declare module 'better-sqlite3' {
  interface RunResult {
    changes: number;
    lastInsertRowid: number | bigint;
  }
  interface Statement<P extends unknown[] = unknown[]> {
    run(...params: P): RunResult;
    get(...params: P): unknown;
    all(...params: P): unknown[];
  }
  interface Options {
    readonly?: boolean;
    fileMustExist?: boolean;
    timeout?: number;
  }
  class Database {
    constructor(filename: string, options?: Options);
    readonly open: boolean;
    readonly memory: boolean;
    prepare<P extends unknown[] = unknown[]>(sql: string): Statement<P>;
    exec(sql: string): this;
    pragma(sql: string, options?: { simple?: boolean }): unknown;
    transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
    close(): this;
  }
  export default Database;
}
