// The tests' throwaway redis-server: the server package's RedisServer (also used by bench-scale).
export { RedisServer as TestRedis } from '@splitlora/server';
