/**
 * A deadline on a promise, measured on an injected {@link Clock}.
 *
 * @since 0.1.0
 */
import type { Clock } from '../Clock.js'

/**
 * Settles with `work`'s result, or with `onTimeout()` once `ms` have passed on
 * `clock`, whichever comes first. A result that arrives after the deadline is
 * handed to `onLate` (e.g. to close a connection nobody will use). `work` must
 * not reject. The timer is cancelled as soon as `work` settles.
 *
 * @example
 * import { withDeadline, realClock } from 'leaselock'
 * const slow = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 50))
 * const result = await withDeadline(realClock, 10, () => 'timed out')(slow)
 * assert.strictEqual(result, 'timed out')
 *
 * @since 0.1.0
 */
export const withDeadline =
  <A>(clock: Clock, ms: number, onTimeout: () => A, onLate: (late: A) => void = () => undefined) =>
  (work: Promise<A>): Promise<A> =>
    new Promise<A>((resolve, reject) => {
      let settled = false
      const timer = new AbortController()
      void clock.sleep(ms, timer.signal).then(() => {
        if (settled) return
        settled = true
        resolve(onTimeout())
      })
      work.then(
        (a) => {
          if (settled) return onLate(a)
          settled = true
          timer.abort()
          resolve(a)
        },
        (e: unknown) => {
          // Work that rejects (rather than answering a Left) fails the call, or is dropped once too late.
          if (settled) return
          settled = true
          timer.abort()
          reject(e)
        }
      )
    })
