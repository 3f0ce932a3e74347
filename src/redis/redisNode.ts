/**
 * A Redis server as one node of a quorum (see `quorumStore`): the Redis store
 * plus a fence counter that can be raised ("set if greater") and a label that
 * names the node in messages.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type { FenceCounter } from '../quorum/FenceCounter.js'
import { driverFailure } from '../LockError.js'
import type { Store } from '../Store.js'
import { fenceKey } from './keys.js'
import { isNoScript, replyErrorCause } from './RedisReply.js'
import { DEFAULT_FENCE_IDLE_MS, RedisDriver, RedisStoreOptions, redisStore } from './redisStore.js'
import { Script, evalCommand, evalShaCommand, script } from './scripts.js'

/**
 * `KEYS[1]` a fencing counter, `ARGV[1]` a non-negative integer in decimal,
 * `ARGV[2]` the counter's idle period in ms (see `RedisStoreOptions`).
 * Sets the counter to `ARGV[1]` if that is greater than its value (a missing
 * counter counts as 0), to expire after the idle period like every counter
 * the store writes, and returns the counter's value afterwards, as a
 * decimal string. Compares the digits as strings (longer is greater, then
 * lexicographically), so values beyond 2^53 stay exact. It shares the counter
 * that the acquire script increments (`fenceKey`): both only ever raise it
 * while it lives (a counter that expired is seeded again from the server's
 * clock, see `redisStore`).
 *
 * @example
 * import { raiseFenceScript } from 'leaselock/redis'
 * assert.match(raiseFenceScript.source, /SET/)
 *
 * @since 0.1.0
 */
export const raiseFenceScript: Script = script(
  `local current = redis.call('GET', KEYS[1]) or '0'
local wanted = ARGV[1]
if #wanted > #current or (#wanted == #current and wanted > current) then
  redis.call('SET', KEYS[1], wanted, 'PX', ARGV[2])
  return wanted
end
return current`
)

const COUNTER = /^(0|[1-9][0-9]{0,18})$/

/**
 * A {@link FenceCounter} on one Redis server: the key's fencing counter
 * (`fenceKey`, beside the key in its cluster slot), raised with
 * {@link raiseFenceScript} (`EVALSHA`, and `EVAL` once on `NOSCRIPT`); a
 * counter it raises expires after `fenceIdleMs` (the store's option, a day by
 * default) like the ones the store writes. One round trip per call. A reply
 * that is not a counter value is an indeterminate `DriverFailure`.
 *
 * @example
 * import { connectRedis, redisFenceCounter } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ port: Number(process.env.REDIS_PORT ?? 6379) })()
 * if (connected._tag === 'Right') {
 *   const counter = redisFenceCounter(connected.right.driver)
 *   console.log(await counter.raise('jobs:nightly', 0n)()) // the counter's value, e.g. { _tag: 'Right', right: 0n }
 *   await connected.right.close()
 * }
 *
 * @since 0.1.0
 */
export const redisFenceCounter = (driver: RedisDriver, fenceIdleMs: number = DEFAULT_FENCE_IDLE_MS): FenceCounter => ({
  raise: (key, atLeast) => async () => {
    const counter = fenceKey(key)
    if (E.isLeft(counter)) return counter
    const keys = [counter.right]
    const args = [atLeast.toString(), String(fenceIdleMs)]
    let reply = await driver.send(evalShaCommand(raiseFenceScript, keys, args))()
    if (E.isRight(reply) ? isNoScript(reply.right) : isNoScript(reply.left.cause))
      reply = await driver.send(evalCommand(raiseFenceScript, keys, args))()
    if (E.isLeft(reply)) return E.left(driverFailure(key, reply.left.cause, reply.left.indeterminate))
    const value = reply.right
    if (typeof value === 'string' && COUNTER.test(value)) return E.right(BigInt(value))
    const cause =
      value instanceof Error
        ? value
        : replyErrorCause({ _tag: 'UnexpectedReply', expected: 'a counter value (a non-negative integer)', reply: value })
    return E.left(driverFailure(key, cause, true))
  }
})

/**
 * @example
 * import { RedisNodeOptions } from 'leaselock/redis'
 * const options: RedisNodeOptions = { label: 'redis 10.0.0.2:6379', maxKeyBytes: 1024 }
 *
 * @since 0.1.0
 */
export interface RedisNodeOptions extends RedisStoreOptions {
  /** Names the node in a quorum's messages, e.g. `redis 10.0.0.2:6379`. */
  readonly label?: string
}

/**
 * `redisStore(driver, options)` with a {@link redisFenceCounter} and a label:
 * a node for `quorumStore`, which then fences across the nodes. One node per
 * independent Redis server (not replicas of one another).
 *
 * @example
 * import { makeLock, quorumStore } from 'leaselock'
 * import { connectRedis, redisNode } from 'leaselock/redis'
 *
 * const ports = (process.env.REDIS_QUORUM_PORTS ?? '6379,6380,6381').split(',').map(Number)
 * const connections = await Promise.all(ports.map((port) => connectRedis({ host: '127.0.0.1', port })()))
 * const connected = connections.flatMap((c) => (c._tag === 'Right' ? [c.right] : []))
 * if (connected.length === ports.length) {
 *   const lock = makeLock(quorumStore(connected.map((c, i) => redisNode(c.driver, { label: `redis 127.0.0.1:${ports[i]}` }))))
 *   const lease = await lock.acquire('reports:daily', 30_000, 5_000)()
 *   if (lease._tag === 'Right') await lock.release(lease.right)()
 * }
 * await Promise.all(connected.map((c) => c.close()))
 *
 * @since 0.1.0
 */
export const redisNode = (driver: RedisDriver, options: RedisNodeOptions = {}): Store => {
  const { label, ...storeOptions } = options
  return {
    ...redisStore(driver, storeOptions),
    fenceCounter: redisFenceCounter(driver, storeOptions.fenceIdleMs),
    ...(label === undefined ? {} : { label })
  }
}
