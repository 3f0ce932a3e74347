/**
 * The per-node counter a quorum fences with: one monotonic counter per key
 * that can be read and raised, never lowered.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from '../LockError.js'

/**
 * A counter per key on one node. `raise(key, atLeast)` sets the key's counter
 * to `atLeast` if that is greater than its value ("set if greater", atomically
 * on the node) and answers the counter's value afterwards; `raise(key, 0n)`
 * reads it. A counter never goes down and never expires.
 *
 * @example
 * import { FenceCounter } from 'leaselock'
 * const read = (counter: FenceCounter, key: string) => counter.raise(key, 0n)
 *
 * @since 0.1.0
 */
export interface FenceCounter {
  readonly raise: (key: string, atLeast: bigint) => TE.TaskEither<LockError, bigint>
}

/**
 * A {@link FenceCounter} in process memory, for a quorum of memory stores
 * (tests, examples). One entry per key, kept for good, like a server's counter.
 *
 * @example
 * import { memoryFenceCounter } from 'leaselock'
 * const counter = memoryFenceCounter()
 * assert.deepStrictEqual(await counter.raise('k', 5n)(), { _tag: 'Right', right: 5n })
 * assert.deepStrictEqual(await counter.raise('k', 3n)(), { _tag: 'Right', right: 5n })
 *
 * @since 0.1.0
 */
export const memoryFenceCounter = (): FenceCounter => {
  const counters = new Map<string, bigint>()
  return {
    raise: (key, atLeast) => () => {
      const value = counters.get(key) ?? 0n
      if (atLeast > value) counters.set(key, atLeast)
      return Promise.resolve(E.right(atLeast > value ? atLeast : value))
    }
  }
}
