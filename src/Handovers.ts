/**
 * The client side of handover notifications: which of our waiters were
 * handed a key, with which fence and claim TTL. Shared by the stores that
 * have a wait queue; notifications may come late, twice, out of order, or
 * before the reply of the request that queued the waiter.
 *
 * @since 0.2.0
 */
import * as O from 'fp-ts/lib/Option.js'
import { Clock, cancellableSleep } from './Clock.js'
import type { Grant } from './Store.js'

/** A waiter as its own client knows it. */
interface Waiter {
  /** The newest handover notified and not yet answered. */
  grant?: Grant
  /** Handovers at or below this fence are stale. */
  after: bigint
  /** Wakes a pending `wait`. */
  wake?: () => void
}

/**
 * - `register(token)` before a request that may queue the waiter goes out;
 * - `notify(token, grant)` when a handover notification arrives: kept if it is
 *   above what the waiter already has, ignored for unknown tokens;
 * - `wait(token, ms, after, signal)` is `WaitQueue.awaitHandoff`: the newest
 *   handover above `after`, once (the waiter is then forgotten);
 * - `forget(token)` once the waiter holds the key or left.
 *
 * @example
 * import { makeHandovers, VirtualClock } from 'leaselock'
 * const handovers = makeHandovers(new VirtualClock())
 * handovers.register('t')
 * handovers.notify('t', { fence: 5n, validityMs: 1_000, revision: '5' })
 * const handed = await handovers.wait('t', 100, 4n)
 * assert.ok(handed._tag === 'Some' && handed.value.fence === 5n)
 *
 * @since 0.2.0
 */
export interface Handovers {
  readonly register: (token: string) => void
  readonly notify: (token: string, grant: Grant) => void
  readonly wait: (token: string, ms: number, after: bigint, signal?: AbortSignal) => Promise<O.Option<Grant>>
  readonly forget: (token: string) => void
}

/**
 * An empty registry whose waits run on `clock`.
 *
 * @example
 * import { makeHandovers, realClock } from 'leaselock'
 * const handovers = makeHandovers(realClock)
 * assert.strictEqual((await handovers.wait('nobody', 1, 0n))._tag, 'None')
 *
 * @since 0.2.0
 */
export const makeHandovers = (clock: Clock): Handovers => {
  const waiters = new Map<string, Waiter>()
  return {
    register: (token) => {
      if (!waiters.has(token)) waiters.set(token, { after: 0n })
    },
    notify: (token, grant) => {
      const waiter = waiters.get(token)
      if (waiter === undefined || grant.fence <= waiter.after || (waiter.grant !== undefined && waiter.grant.fence >= grant.fence)) return
      waiter.grant = grant
      waiter.wake?.()
    },
    wait: async (token, ms, after, signal) => {
      const waiter = waiters.get(token) ?? { after }
      waiters.set(token, waiter)
      if (waiter.after < after) waiter.after = after
      if (waiter.grant !== undefined && waiter.grant.fence <= waiter.after) delete waiter.grant
      if (waiter.grant === undefined) {
        const woken = new Promise<void>((resolve) => (waiter.wake = resolve))
        const nap = cancellableSleep(clock, ms, signal)
        await Promise.race([woken, nap.done])
        nap.cancel()
        delete waiter.wake
      }
      const handed = waiter.grant
      if (handed === undefined) return O.none
      waiters.delete(token)
      return O.some(handed)
    },
    forget: (token) => void waiters.delete(token)
  }
}
