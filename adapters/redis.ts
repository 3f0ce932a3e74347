/**
 * `leaselock/redis`: leases over Redis. The protocol (`redisStore` and its
 * scripts, key rules and reply decoders) works over any {@link RedisDriver};
 * `nodeRedisDriver`, `nodeRedisSubscriber` and `connectRedis` supply one from
 * node-redis (with pub/sub, so a release hands the key straight to the first
 * waiter), `connectRedisCluster` and `connectRedisSentinel` one over
 * node-redis's Cluster and Sentinel clients, and `RedisLock` is the
 * Pip.Services-style component over them.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ uri: `redis://localhost:${process.env.REDIS_PORT ?? 6379}` })()
 * assert.ok(connected._tag === 'Right')
 * const lock = makeLock(redisStore(connected.right.driver))
 * const fence = await lock.withLock('reports:daily', 30_000, { timeoutMs: 5_000 }, (lease) => async () => ({ _tag: 'Right', right: lease.fence }))()
 * assert.strictEqual(fence._tag, 'Right')
 * await connected.right.close()
 *
 * @since 0.1.0
 */
import type { Environment } from '../src/Environment.js'
import { SemaphoreComponent } from '../src/compat/SemaphoreComponent.js'
import { RedisLockComponent } from '../src/redis/RedisLock.js'
import { connectRedis } from './node-redis.js'
import { connectRedisCluster } from './node-redis-cluster.js'
import { connectRedisSentinel } from './node-redis-sentinel.js'

export * from '../src/redis/keys.js'
export * from '../src/redis/RedisConnection.js'
export * from '../src/redis/RedisLock.js'
export * from '../src/redis/RedisReply.js'
export * from '../src/redis/redisNode.js'
export * from '../src/redis/redisStore.js'
export * from '../src/redis/redisPermitStore.js'
export * from '../src/redis/permitScripts.js'
export * from '../src/redis/scripts.js'
export * from '../src/redis/slots.js'
export * from './node-redis.js'
export type { SendCommand, OptionRule, Outage } from './node-redis-common.js'
export {
  RECONNECT_MAX_MS,
  RedisServerDownError,
  reconnectDelay,
  outageOf,
  isNotSent,
  sendWithin,
  replyOf,
  sendAndWaitWithin,
  settleWithin,
  optionRules,
  checkOptions,
  untilServed
} from './node-redis-common.js'
export { settleOr } from './settle.js'
export * from './node-redis-cluster.js'
export * from './node-redis-sentinel.js'

/**
 * A distributed lock in Redis with the Pip.Services component API, over
 * node-redis: one server, a Redis Cluster or a primary watched by Sentinel,
 * as `options.mode` says (see {@link RedisLockComponent} for the
 * configuration keys and options, and `LockComponent` for the behaviour of
 * each method).
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * import { RedisLock } from 'leaselock/redis'
 *
 * const lock = new RedisLock()
 * lock.configure(ConfigParams.fromTuples(
 *   'host', 'localhost',
 *   'port', Number(process.env.REDIS_PORT ?? 6379)
 * ))
 * await lock.open('123')
 * await lock.acquireLock('123', 'key1', 3000, 1000)
 * try {
 *   // Processing...
 * } finally {
 *   await lock.releaseLock('123', 'key1')
 * }
 * await lock.close('123')
 *
 * @since 0.1.0
 */
export class RedisLock extends RedisLockComponent {
  constructor(env?: Environment) {
    // The environment's randomness also jitters the reconnection of a single node's client.
    super({ standalone: (options) => connectRedis(options, env), cluster: connectRedisCluster, sentinel: connectRedisSentinel }, env)
  }
}

/**
 * Semaphores and read-write locks in Redis with the Pip.Services component
 * API: configured by the same keys as {@link RedisLock} (one server, a
 * Redis Cluster or a Sentinel primary, as `options.mode` says; `redlock`
 * mode keeps no permits and answers `UNSUPPORTED`), see `SemaphoreComponent`.
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * import { RedisSemaphore } from 'leaselock/redis'
 *
 * const semaphore = new RedisSemaphore()
 * semaphore.configure(ConfigParams.fromTuples(
 *   'host', 'localhost',
 *   'port', Number(process.env.REDIS_PORT ?? 6379)
 * ))
 * await semaphore.open('123')
 * const permit = await semaphore.acquirePermit('123', 'api:quota', 3, 10_000, 1_000)
 * try {
 *   // At most 3 of these at once, across processes...
 * } finally {
 *   await semaphore.releasePermit('123', permit)
 * }
 * await semaphore.close('123')
 *
 * @since 0.4.0
 */
export class RedisSemaphore extends SemaphoreComponent {
  constructor(env?: Environment) {
    super(new RedisLock(env))
  }
}
