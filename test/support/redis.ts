// The tests' throwaway redis-server: the lab's RedisServer (also used by bench-scale).
export { RedisServer as TestRedis } from '@splitlora/lab';
