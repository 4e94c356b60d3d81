// One freePort for tests and the lab (bench-scale starts child processes on it too).
export { freePort } from '@splitlora/lab';
