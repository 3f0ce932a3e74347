/**
 * Turns any Redis {@link Driver} into a {@link Store}: acquire with `SET NX PX`
 * plus a fencing counter, compare-and-delete release, compare-and-`PEXPIRE`
 * extend — each one Lua script, run with `EVALSHA` and sent once with `EVAL`
 * when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import type { Driver, DriverError } from '../Driver.js'
import { LockError, driverFailure } from '../LockError.js'
import type { Grant, Store } from '../Store.js'
import { DEFAULT_MAX_KEY_BYTES, checkRedisKey, fenceKey } from './keys.js'
import { RedisReply, ReplyError, decodeFence, decodeFlag, isNoScript, replyErrorCause } from './RedisReply.js'
import { Script, acquireScript, evalCommand, evalShaCommand, extendScript, releaseScript } from './scripts.js'

/**
 * A driver for Redis: sends one argument vector, answers one {@link RedisReply}.
 * An error reply from the server is a `Right` holding an `Error`; a `Left` is a
 * transport failure (with `indeterminate` telling whether the command may have
 * run).
 *
 * Any client fits in a few lines. With ioredis:
 *
 * @example
 * import Redis, { ReplyError } from 'ioredis'
 * import * as E from 'fp-ts/lib/Either.js'
 * import { driverError, makeLock } from 'leaselock'
 * import { RedisDriver, RedisReply, redisStore } from 'leaselock/redis'
 *
 * const ioredisDriver = (redis: Redis): RedisDriver => ({
 *   send: ([command, ...args]) => () =>
 *     redis.call(command, args).then(
 *       (reply) => E.right(reply as RedisReply),
 *       (e: unknown) => (e instanceof ReplyError ? E.right(e as Error) : E.left(driverError(e, true)))
 *     )
 * })
 * const lock = makeLock(redisStore(ioredisDriver(new Redis())))
 *
 * @since 0.1.0
 */
export type RedisDriver = Driver<ReadonlyArray<string>, RedisReply>

/**
 * @example
 * import { redisStore, RedisDriver } from 'leaselock/redis'
 * const shortKeys = (driver: RedisDriver) => redisStore(driver, { maxKeyBytes: 256 })
 *
 * @since 0.1.0
 */
export interface RedisStoreOptions {
  /** The longest lock key accepted, in UTF-8 bytes ({@link DEFAULT_MAX_KEY_BYTES} by default). */
  readonly maxKeyBytes?: number
}

const fenceOf = (revision: string): bigint => (/^[0-9]{1,19}$/.test(revision) ? BigInt(revision) : 0n)

/**
 * A store over a Redis driver. Grants carry a fencing token from a counter
 * beside the key (see {@link fenceKey}: it never expires, and shares the key's
 * cluster slot); a grant's `revision` is that token in decimal, and a grant's
 * validity is the TTL asked for (Redis expires keys with millisecond precision).
 *
 * A reply the scripts cannot produce, or an error reply to the acquire script
 * (which may have set the key before failing), is a `DriverFailure` with
 * `indeterminate: true`; an error reply to release or extend changed nothing
 * and is `indeterminate: false`.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ url: 'redis://localhost:6379' })()
 * if (connected._tag === 'Right') {
 *   const lock = makeLock(redisStore(connected.right.driver))
 *   const lease = await lock.acquire('reports:daily', 30_000, 5_000)()
 *   if (lease._tag === 'Right') await lock.release(lease.right)()
 *   await connected.right.close()
 * }
 *
 * @since 0.1.0
 */
export const redisStore = (driver: RedisDriver, options: RedisStoreOptions = {}): Store => {
  const run = (s: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): TE.TaskEither<DriverError, RedisReply> => {
    const fallback = driver.send(evalCommand(s, keys, args))
    return pipe(
      driver.send(evalShaCommand(s, keys, args)),
      TE.matchEW(
        (e) => (isNoScript(e.cause) ? fallback : TE.left(e)),
        (reply) => (isNoScript(reply) ? fallback : TE.right(reply))
      )
    )
  }

  const call =
    <A>(key: string, decode: (reply: unknown) => E.Either<ReplyError, A>, indeterminateOnErrorReply: boolean) =>
    (s: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): TE.TaskEither<LockError, A> =>
      pipe(
        run(s, keys, args),
        TE.mapLeft((e) => driverFailure(key, e.cause, e.indeterminate)),
        TE.chainEitherK((reply) =>
          pipe(
            decode(reply),
            E.mapLeft((e) =>
              driverFailure(key, replyErrorCause(e), e._tag === 'UnexpectedReply' || indeterminateOnErrorReply)
            )
          )
        )
      )

  return {
    name: 'redis',
    checkKey: checkRedisKey(options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES),
    checkTtl: E.right,
    acquire: (key, token, ttlMs) =>
      pipe(
        TE.fromEither(fenceKey(key)),
        TE.chain((counter) => call(key, decodeFence, true)(acquireScript, [key, counter], [token, String(ttlMs)])),
        TE.map(O.map((fence): Grant => ({ fence, validityMs: ttlMs, revision: String(fence) })))
      ),
    release: (held) => call(held.key, decodeFlag, false)(releaseScript, [held.key], [held.token]),
    extend: (held, ttlMs) =>
      pipe(
        call(held.key, decodeFlag, false)(extendScript, [held.key], [held.token, String(ttlMs)]),
        TE.map((applied) =>
          applied ? O.some({ fence: fenceOf(held.revision), validityMs: ttlMs, revision: held.revision }) : O.none
        )
      )
  }
}
