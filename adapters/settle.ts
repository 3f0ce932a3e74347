/**
 * A deadline on a client library's promise, shared by the Redis adapters.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'

/**
 * Settles with the promise's outcome, or with `timedOut()` after `ms`; leaves
 * no timer behind and never rejects.
 *
 * @example
 * import { settleOr } from 'leaselock/redis'
 * assert.deepStrictEqual(await settleOr(new Promise(() => {}), 10, () => 'late'), { _tag: 'Left', left: 'late' })
 * assert.deepStrictEqual(await settleOr(Promise.resolve(1), 10, () => 'late'), { _tag: 'Right', right: 1 })
 *
 * @since 0.4.0
 */
export const settleOr = <A>(promise: Promise<A>, ms: number, timedOut: () => unknown): Promise<E.Either<unknown, A>> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(E.left(timedOut())), ms)
    promise.then(
      (a) => {
        clearTimeout(timer)
        resolve(E.right(a))
      },
      (e: unknown) => {
        clearTimeout(timer)
        resolve(E.left(e))
      }
    )
  })
