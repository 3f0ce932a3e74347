/**
 * memcached expiry: whole seconds on a clock that ticks once per second, and
 * what that means for how long a lock is provably held.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { LockError, invalidArgument } from '../LockError.js'

/**
 * The longest relative expiry memcached accepts, in seconds (30 days): larger
 * numbers are read as absolute Unix times. The default (and the cap) of
 * `options.max_expiration`.
 *
 * @example
 * import { MAX_EXPIRATION_SECONDS } from 'leaselock/memcached'
 * assert.strictEqual(MAX_EXPIRATION_SECONDS, 30 * 24 * 3600)
 *
 * @since 0.1.0
 */
export const MAX_EXPIRATION_SECONDS = 2_592_000

/**
 * A TTL in milliseconds as memcached's expiry: whole seconds rounded up, never
 * 0 (which would mean "never expires").
 *
 * @example
 * import { expirySeconds } from 'leaselock/memcached'
 * assert.strictEqual(expirySeconds(1), 1)
 * assert.strictEqual(expirySeconds(1000), 1)
 * assert.strictEqual(expirySeconds(1500), 2)
 *
 * @since 0.1.0
 */
export const expirySeconds = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs / 1000))

/**
 * How long an item stored with `ttlMs` is guaranteed to live, counted from the
 * moment its request was sent: `(N − 2)` seconds for an expiry of N seconds
 * (0 for N ≤ 2), and never more than `ttlMs`.
 *
 * Why N − 2: memcached's clock is a counter of whole seconds that a timer
 * refreshes about once per second, and an item expires at the first refresh
 * that reads `counter at store time + N`. The counter at store time can lag
 * real time by almost a second, so the item normally lives between N − 1 and
 * N seconds (measured on memcached 1.6.18: 40 items with a 1 s expiry lived
 * 3–978 ms, with 2 s 1007–1952 ms). The timer's period is a little over one
 * second (it is re-armed after each tick; ≈ 1001 ms measured), so its
 * refreshes drift against the second boundaries, and whenever they cross one
 * the counter steps by 2 (measured: twice in 22 minutes): an item alive at
 * that step loses up to one more second. Counted from the send, network time
 * only adds to the lifetime. The lock core then subtracts its clock-drift
 * allowance from this validity.
 *
 * @example
 * import { validityMs } from 'leaselock/memcached'
 * assert.strictEqual(validityMs(500), 0)
 * assert.strictEqual(validityMs(3000), 1000)
 * assert.strictEqual(validityMs(2500), 1000)
 * assert.strictEqual(validityMs(30_000), 28_000)
 *
 * @since 0.1.0
 */
export const validityMs = (ttlMs: number): number => Math.min(ttlMs, Math.max(0, (expirySeconds(ttlMs) - 2) * 1000))

/**
 * Checks a TTL (already a positive integer of milliseconds) against the
 * longest expiry allowed, `maxExpirationSeconds` (at most
 * {@link MAX_EXPIRATION_SECONDS}).
 *
 * @example
 * import { checkMemcachedTtl } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(checkMemcachedTtl(2_592_000)(2_592_000_000)))
 * assert.ok(E.isLeft(checkMemcachedTtl(2_592_000)(2_592_000_001)))
 *
 * @since 0.1.0
 */
export const checkMemcachedTtl =
  (maxExpirationSeconds: number) =>
  (ttlMs: number): E.Either<LockError, number> => {
    const seconds = expirySeconds(ttlMs)
    return seconds > maxExpirationSeconds
      ? E.left(
          invalidArgument(
            `ttlMs ${ttlMs} is ${seconds} s, over the memcached limit of ${maxExpirationSeconds} s${maxExpirationSeconds === MAX_EXPIRATION_SECONDS ? ' (30 days; longer expiries would be read as Unix times)' : ''}`
          )
        )
      : E.right(ttlMs)
  }
