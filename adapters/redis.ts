/**
 * `leaselock/redis`: leases over Redis. The protocol (`redisStore` and its
 * scripts, key rules and reply decoders) works over any {@link RedisDriver};
 * `nodeRedisDriver` and `connectRedis` supply one from node-redis.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ uri: 'redis://localhost:6379' })()
 * if (connected._tag === 'Right') {
 *   const lock = makeLock(redisStore(connected.right.driver))
 *   await lock.withLock('reports:daily', 30_000, { timeoutMs: 5_000 }, (lease) => async () => ({ _tag: 'Right', right: lease.fence }))()
 *   await connected.right.close()
 * }
 *
 * @since 0.1.0
 */
export * from '../src/redis/keys.js'
export * from '../src/redis/RedisReply.js'
export * from '../src/redis/redisStore.js'
export * from '../src/redis/scripts.js'
export * from './node-redis.js'
