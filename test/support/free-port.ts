// One freePort for tests and the server package (bench-scale starts child processes on it too).
export { freePort } from '@splitlora/server';
