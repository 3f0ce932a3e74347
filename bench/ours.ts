/**
 * leaselock's contestants, one function per backend. This is the only place
 * that builds our locks, so a different acquisition path (for example
 * wake-on-release on Redis) is switched on here for every scenario at once.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { Lock, makeLock } from '../src/Lock.js'
import { makeSemaphore } from '../src/permits/Semaphore.js'
import { message } from '../src/LockError.js'
import { memoryStore } from '../adapters/memory.js'
import { quorumStore } from '../src/quorum/quorumStore.js'
import { connectRedis, connectRedisCluster, redisNode, redisPermitStore, redisStore } from '../adapters/redis.js'
import { MemcachedServerAddress, connectMemcached, memcachedStore } from '../adapters/memcached.js'
import { ioredisDriver } from '../adapters/ioredis.js'
import { connectIoredis, quitIoredis } from './floors.js'
import { Locker } from './locker.js'

/**
 * Drives a {@link Lock} as a {@link Locker}: `acquire(key, ttl, timeout)` as a
 * user would call it, `Timeout` as `undefined`, any other error as a rejection.
 *
 * @example
 * import { makeLock } from '../src/Lock.js'
 * import { memoryStore } from '../adapters/memory.js'
import { connectRedis, redisStore } from '../adapters/redis.js'
import { MemcachedServerAddress, connectMemcached, memcachedStore } from '../adapters/memcached.js'
 * import { lockerOf } from './ours.js'
 * const locker = lockerOf(makeLock(memoryStore()), async () => undefined)
 *
 * @since 0.1.0
 */
export const lockerOf = (lock: Lock, close: () => Promise<void>): Locker => ({
  acquire: async (key, ttlMs, timeoutMs) => {
    const acquired = await lock.acquire(key, ttlMs, timeoutMs)()
    if (E.isLeft(acquired)) {
      if (acquired.left._tag === 'Timeout') return undefined
      throw new Error(`leaselock ${lock.store.name}: ${message(acquired.left)}`)
    }
    const lease = acquired.right
    return async () => {
      const released = await lock.release(lease)()
      if (E.isLeft(released)) throw new Error(`leaselock ${lock.store.name}: ${message(released.left)}`)
    }
  },
  close
})

/**
 * leaselock on the in-process memory store.
 *
 * @example
 * import { oursMemory } from './ours.js'
 * const locker = await oursMemory()
 *
 * @since 0.1.0
 */
export const oursMemory = async (): Promise<Locker> => lockerOf(makeLock(memoryStore()), async () => undefined)

/**
 * leaselock on Redis: `connectRedis` (node-redis, with its per-command
 * deadlines) and `redisStore`.
 *
 * @example
 * import { oursRedis } from './ours.js'
 * const locker = await oursRedis('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const oursRedis = async (url: string): Promise<Locker> => {
  const connected = await connectRedis({ uri: url })()
  if (E.isLeft(connected)) throw new Error(`leaselock redis: ${message(connected.left)}`)
  return lockerOf(makeLock(redisStore(connected.right.driver)), connected.right.close)
}

/**
 * leaselock on Redis through ioredis: `ioredisDriver` (per-command
 * deadlines, wake-on-release on a duplicated connection) over the same kind
 * of client the peers use, and `redisStore`.
 *
 * @example
 * import { oursIoredis } from './ours.js'
 * const locker = await oursIoredis('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.3.0
 */
export const oursIoredis = async (url: string): Promise<Locker> => {
  const client = await connectIoredis(url)
  const driver = ioredisDriver(client)
  return lockerOf(makeLock(redisStore(driver)), async () => {
    await driver.close()
    await quitIoredis(client)
  })
}

/**
 * leaselock's quorum lease over independent Redis servers: `connectRedis` to
 * each, `redisNode`s, `quorumStore`; fenced across the nodes unless `fencing`
 * is `false`.
 *
 * @example
 * import { oursQuorum } from './ours.js'
 * const locker = await oursQuorum(['redis://127.0.0.1:6379', 'redis://127.0.0.1:6380', 'redis://127.0.0.1:6381'], true)
 * await locker.close()
 *
 * @since 0.1.0
 */
export const oursQuorum = async (urls: ReadonlyArray<string>, fencing: boolean): Promise<Locker> => {
  const opened = await Promise.all(urls.map((uri) => connectRedis({ uri })()))
  const connections = opened.flatMap((o) => (E.isRight(o) ? [o.right] : []))
  const close = async (): Promise<void> => {
    await Promise.all(connections.map((c) => c.close()))
  }
  const failed = opened.find(E.isLeft)
  if (failed !== undefined) {
    await close()
    throw new Error(`leaselock quorum: ${message(failed.left)}`)
  }
  const nodes = connections.map((c, i) => redisNode(c.driver, { label: urls[i]! }))
  return lockerOf(makeLock(quorumStore(nodes, { fencing })), close)
}

/**
 * `host:port[,host:port…]` (the `MEMCACHED_SERVERS` form) as server addresses.
 *
 * @example
 * import { parseServers } from './ours.js'
 * assert.deepStrictEqual(parseServers('127.0.0.1:11211'), [{ host: '127.0.0.1', port: 11211 }])
 *
 * @since 0.1.0
 */
export const parseServers = (servers: string): ReadonlyArray<MemcachedServerAddress> =>
  servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const at = s.lastIndexOf(':')
      return at < 0 ? { host: s, port: 11211 } : { host: s.slice(0, at), port: Number(s.slice(at + 1)) }
    })

/**
 * leaselock on Memcached: `connectMemcached` (memjs, one attempt per request,
 * per-request deadlines) and `memcachedStore`.
 *
 * @example
 * import { oursMemcached } from './ours.js'
 * const locker = await oursMemcached('127.0.0.1:11211')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const oursMemcached = async (servers: string): Promise<Locker> => {
  const connected = await connectMemcached({ servers: parseServers(servers) })()
  if (E.isLeft(connected)) throw new Error(`leaselock memcached: ${message(connected.left)}`)
  return lockerOf(makeLock(memcachedStore(connected.right.driver)), connected.right.close)
}

/**
 * leaselock on a primary with a replica, every grant and extend acknowledged
 * by the replica (`syncReplicas: 1`).
 *
 * @example
 * import { oursRedisSynced } from './ours.js'
 * const locker = await oursRedisSynced('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const oursRedisSynced = async (url: string): Promise<Locker> => {
  const connected = await connectRedis({ uri: url })()
  if (E.isLeft(connected)) throw new Error(`leaselock redis: ${message(connected.left)}`)
  return lockerOf(makeLock(redisStore(connected.right.driver, { syncReplicas: 1 })), connected.right.close)
}

/**
 * leaselock on a Redis Cluster (`connectRedisCluster`, nodes as
 * `host:port,…`). With `oneMaster`, every key gets the same hash tag, so all
 * the traffic goes to one master; with `syncReplicas`, each grant and extend
 * is acknowledged by the key's replica.
 *
 * @example
 * import { oursRedisCluster } from './ours.js'
 * const locker = await oursRedisCluster('127.0.0.1:7000', { oneMaster: false, syncReplicas: 0 })
 * await locker.close()
 *
 * @since 0.1.0
 */
export const oursRedisCluster = async (nodes: string, options: { readonly oneMaster: boolean; readonly syncReplicas: number }): Promise<Locker> => {
  const rootNodes = parseServers(nodes).map(({ host, port }) => ({ host, port }))
  const connected = await connectRedisCluster({ rootNodes })()
  if (E.isLeft(connected)) throw new Error(`leaselock redis cluster: ${message(connected.left)}`)
  const locker = lockerOf(makeLock(redisStore(connected.right.driver, { syncReplicas: options.syncReplicas })), connected.right.close)
  return options.oneMaster ? { ...locker, acquire: (key, ttlMs, timeoutMs) => locker.acquire(`{one-master}${key}`, ttlMs, timeoutMs) } : locker
}

/**
 * leaselock's semaphore on Redis as a {@link Locker}: each `acquire` takes one
 * permit of `limit` (`connectRedis`, `redisPermitStore`, `makeSemaphore`
 * with its defaults: woken over pub/sub when permits are freed, polling on
 * the default retry policy meanwhile).
 *
 * @example
 * import { oursRedisSemaphore } from './ours.js'
 * const locker = await oursRedisSemaphore('redis://127.0.0.1:6379', 3)
 * await locker.close()
 *
 * @since 0.4.0
 */
export const oursRedisSemaphore = async (url: string, limit: number): Promise<Locker> => {
  const connected = await connectRedis({ uri: url })()
  if (E.isLeft(connected)) throw new Error(`leaselock semaphore: ${message(connected.left)}`)
  const semaphore = makeSemaphore(redisPermitStore(connected.right.driver))
  return {
    acquire: async (key, ttlMs, timeoutMs) => {
      const acquired = await semaphore.acquire(key, limit, ttlMs, timeoutMs)()
      if (E.isLeft(acquired)) {
        if (acquired.left._tag === 'Timeout') return undefined
        throw new Error(`leaselock semaphore: ${message(acquired.left)}`)
      }
      const permit = acquired.right
      return async () => {
        const released = await semaphore.release(permit)()
        if (E.isLeft(released)) throw new Error(`leaselock semaphore: ${message(released.left)}`)
      }
    },
    close: connected.right.close
  }
}
