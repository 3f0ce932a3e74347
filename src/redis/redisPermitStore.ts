/**
 * Turns any Redis {@link RedisDriver} into a {@link PermitStore}: semaphores
 * and read-write locks on one Lua script per operation, with every expiry
 * judged on the server's clock.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { Clock, realClock } from '../Clock.js'
import { randomToken } from '../Environment.js'
import { LockError, driverFailure } from '../LockError.js'
import { makeWakeups } from '../permits/Wakeups.js'
import type { PermitStore } from '../permits/PermitStore.js'
import type { Grant } from '../Store.js'
import { DEFAULT_MAX_KEY_BYTES, checkRedisKey, permitKeys } from './keys.js'
import { permitAcquireScript, permitExtendScript, permitReleaseScript } from './permitScripts.js'
import { ReplyError, decodeFence, decodeFlag, isNoScript, isRefusal, replyErrorCause } from './RedisReply.js'
import type { RedisDriver } from './redisStore.js'
import { Script, evalCommand, evalShaCommand } from './scripts.js'

/**
 * @example
 * import { RedisPermitStoreOptions } from 'leaselock/redis'
 * const options: RedisPermitStoreOptions = { maxKeyBytes: 256 }
 *
 * @since 0.4.0
 */
export interface RedisPermitStoreOptions {
  /** The longest key accepted, in UTF-8 bytes ({@link DEFAULT_MAX_KEY_BYTES} by default). */
  readonly maxKeyBytes?: number
  /** The pub/sub channel this store's waiters are woken on; a new random `leaselock:permits:<id>` by default. */
  readonly channel?: string
  /** The clock waiters wait on (`realClock` by default). */
  readonly clock?: Clock
}

/**
 * A permit store over a Redis driver (see `PermitStore` for the admission
 * rule, and `permitAcquireScript` for the data). Each operation is one
 * script (`EVALSHA`, and `EVAL` once after `NOSCRIPT`) over three keys in the
 * permit key's cluster slot (see `permitKeys`), so it runs on one server, a
 * Sentinel primary or a Redis Cluster alike. Waiters keep their place in the
 * FIFO queue by asking again (the semaphore polls on its retry policy, at
 * least every third of the TTL). When the driver can `subscribe`, the store
 * has `wakeups`: its waiters' queue entries name its channel, and a release
 * (or a waiter leaving) publishes the permit key there, so they ask again at
 * once; the store subscribes the first time one of its requests may queue. A
 * lost wake-up costs a poll interval. A grant's `revision` is its fence in
 * decimal.
 *
 * Every script writes, so an error reply (other than a refusal to run, see
 * `isRefusal`) or a reply the scripts cannot produce is a `DriverFailure`
 * with `indeterminate: true`.
 *
 * @example
 * import { makeSemaphore } from 'leaselock'
 * import { connectRedis, redisPermitStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ host: 'localhost', port: Number(process.env.REDIS_PORT ?? 6379) })()
 * assert.ok(connected._tag === 'Right')
 * const semaphore = makeSemaphore(redisPermitStore(connected.right.driver))
 * const permit = await semaphore.acquire('reports:render', 3, 30_000, 5_000)()
 * assert.ok(permit._tag === 'Right')
 * await semaphore.release(permit.right)()
 * await connected.right.close()
 *
 * @since 0.4.0
 */
export const redisPermitStore = (driver: RedisDriver, options: RedisPermitStoreOptions = {}): PermitStore => {
  const clock = options.clock ?? realClock
  const subscribe = driver.subscribe
  const channel = subscribe === undefined ? '' : (options.channel ?? `leaselock:permits:${randomToken()}`)
  const wakeups = makeWakeups(clock)
  let listening: Promise<boolean> | undefined
  /** Subscribes once (again after a failure); waits for it no longer than `ms`. */
  const listen = async (ms: number): Promise<void> => {
    if (subscribe === undefined) return
    listening ??= subscribe(channel, wakeups.notify)().then((r) => {
      if (E.isLeft(r)) listening = undefined
      return E.isRight(r)
    })
    const done = new AbortController()
    await Promise.race([listening, clock.sleep(ms, done.signal)])
    done.abort()
  }

  /** Runs a script over the key's permit keys and decodes its reply. */
  const call = async <A>(key: string, s: Script, args: ReadonlyArray<string>, decode: (reply: unknown) => E.Either<ReplyError, A>): Promise<E.Either<LockError, A>> => {
    const keys = permitKeys(key)
    if (E.isLeft(keys)) return keys
    const first = await driver.send(evalShaCommand(s, keys.right, args))()
    const reply = (E.isLeft(first) ? isNoScript(first.left.cause) : isNoScript(first.right)) ? await driver.send(evalCommand(s, keys.right, args))() : first
    if (E.isLeft(reply)) return E.left(driverFailure(key, reply.left.cause, reply.left.indeterminate))
    const decoded = decode(reply.right)
    if (E.isRight(decoded)) return decoded
    const why = decoded.left
    return E.left(driverFailure(key, replyErrorCause(why), why._tag === 'UnexpectedReply' || !isRefusal(why.error)))
  }

  const granted = (ttlMs: number, reply: E.Either<LockError, O.Option<bigint>>): E.Either<LockError, O.Option<Grant>> =>
    E.isLeft(reply) ? reply : E.right(O.map((fence: bigint): Grant => ({ fence, validityMs: ttlMs, revision: String(fence) }))(reply.right))

  return {
    name: 'redis',
    checkKey: checkRedisKey(options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES),
    checkTtl: E.right,
    acquire: ({ key, token, weight, limit, ttlMs, waitMs }) => async () => {
      const wait = Math.max(0, Math.ceil(waitMs))
      if (wait > 0) await listen(wait)
      return granted(ttlMs, await call(key, permitAcquireScript, [token, String(weight), String(limit), String(ttlMs), String(wait), channel], decodeFence))
    },
    release: ({ key, token }) => () => call(key, permitReleaseScript, [token, key], decodeFlag),
    extend: ({ key, token }, ttlMs) => async () => granted(ttlMs, await call(key, permitExtendScript, [token, String(ttlMs)], decodeFence)),
    ...(subscribe === undefined ? {} : { wakeups: { seen: wakeups.seen, wait: wakeups.wait } })
  }
}
