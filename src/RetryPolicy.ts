/**
 * Retry policies as pure values, in the shape of retry-ts's `RetryPolicy`, so its
 * combinators compose with these. A policy looks at the status of the retries so
 * far and answers with the next delay, or `none` to stop.
 *
 * Randomness (jitter) is a parameter, never read inline.
 *
 * @since 0.1.0
 */
import * as O from 'fp-ts/lib/Option.js'
import type { Monoid } from 'fp-ts/lib/Monoid.js'

/**
 * @example
 * import { RetryStatus } from 'leaselock'
 * const third: RetryStatus = { iterNumber: 2, cumulativeDelay: 30, previousDelay: { _tag: 'Some', value: 20 } }
 *
 * @since 0.1.0
 */
export interface RetryStatus {
  /** Retries made so far (0 before the first retry). */
  readonly iterNumber: number
  /** Sum of the delays waited so far. */
  readonly cumulativeDelay: number
  /** The delay before the latest retry, `none` before the first retry. */
  readonly previousDelay: O.Option<number>
}

/**
 * @example
 * import { RetryPolicy } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * const everySecond: RetryPolicy = () => O.some(1000)
 *
 * @since 0.1.0
 */
export type RetryPolicy = (status: RetryStatus) => O.Option<number>

/**
 * The status before any retry.
 *
 * @example
 * import { defaultRetryStatus } from 'leaselock'
 * assert.strictEqual(defaultRetryStatus.iterNumber, 0)
 *
 * @since 0.1.0
 */
export const defaultRetryStatus: RetryStatus = { iterNumber: 0, cumulativeDelay: 0, previousDelay: O.none }

/**
 * The status after waiting `delay` and retrying.
 *
 * @example
 * import { defaultRetryStatus, nextRetryStatus } from 'leaselock'
 * assert.strictEqual(nextRetryStatus(defaultRetryStatus, 100).cumulativeDelay, 100)
 *
 * @since 0.1.0
 */
export const nextRetryStatus = (status: RetryStatus, delay: number): RetryStatus => ({
  iterNumber: status.iterNumber + 1,
  cumulativeDelay: status.cumulativeDelay + delay,
  previousDelay: O.some(delay)
})

/**
 * The same delay every time (the Pip.Services `retry_timeout`, 100 ms by default there).
 *
 * @example
 * import { constantDelay, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(constantDelay(100)(defaultRetryStatus), O.some(100))
 *
 * @since 0.1.0
 */
export const constantDelay =
  (delayMs: number): RetryPolicy =>
  () =>
    O.some(delayMs)

/**
 * `baseMs × 2^n` before the n-th retry (counting from 0).
 *
 * @example
 * import { exponentialBackoff, nextRetryStatus, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(exponentialBackoff(10)(nextRetryStatus(defaultRetryStatus, 10)), O.some(20))
 *
 * @since 0.1.0
 */
export const exponentialBackoff =
  (baseMs: number): RetryPolicy =>
  (status) =>
    O.some(baseMs * Math.pow(2, status.iterNumber))

/**
 * Stops after `n` retries.
 *
 * @example
 * import { limitRetries, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(limitRetries(0)(defaultRetryStatus), O.none)
 *
 * @since 0.1.0
 */
export const limitRetries =
  (n: number): RetryPolicy =>
  (status) =>
    status.iterNumber >= n ? O.none : O.some(0)

/**
 * Never lets a delay exceed `maxMs`.
 *
 * @example
 * import { capDelay, constantDelay, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(capDelay(50)(constantDelay(80))(defaultRetryStatus), O.some(50))
 *
 * @since 0.1.0
 */
export const capDelay =
  (maxMs: number) =>
  (policy: RetryPolicy): RetryPolicy =>
  (status) =>
    O.map((d: number) => Math.min(d, maxMs))(policy(status))

/**
 * "Full jitter": each delay `d` becomes uniform in `[0, d)`, drawn from the
 * injected `random` (uniform in [0, 1)). Spreads competing clients apart.
 *
 * @example
 * import { fullJitter, constantDelay, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(fullJitter(() => 0.25)(constantDelay(100))(defaultRetryStatus), O.some(25))
 *
 * @since 0.1.0
 */
export const fullJitter =
  (random: () => number) =>
  (policy: RetryPolicy): RetryPolicy =>
  (status) =>
    O.map((d: number) => Math.floor(d * Math.min(Math.max(random(), 0), 1)))(policy(status))

/**
 * Combines policies: stops when any stops, otherwise waits the longest delay
 * (retry-ts's monoid). `empty` retries at once, forever.
 *
 * @example
 * import { RetryPolicyMonoid, constantDelay, limitRetries, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * const policy = RetryPolicyMonoid.concat(constantDelay(100), limitRetries(3))
 * assert.deepStrictEqual(policy(defaultRetryStatus), O.some(100))
 *
 * @since 0.1.0
 */
export const RetryPolicyMonoid: Monoid<RetryPolicy> = {
  concat: (x, y) => (status) => {
    const a = x(status)
    const b = y(status)
    return O.isSome(a) && O.isSome(b) ? O.some(Math.max(a.value, b.value)) : O.none
  },
  empty: () => O.some(0)
}

/**
 * The policy `acquire` uses unless told otherwise: exponential backoff from 5 ms,
 * capped at 100 ms, with full jitter from `random`.
 *
 * @example
 * import { defaultRetryPolicy, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(defaultRetryPolicy(() => 0.5)(defaultRetryStatus), O.some(2))
 *
 * @since 0.1.0
 */
export const defaultRetryPolicy = (random: () => number): RetryPolicy =>
  fullJitter(random)(capDelay(100)(exponentialBackoff(5)))
