/**
 * Wake-ups for waiting permits: a store that learns that permits of a key
 * were freed (a release, a waiter leaving) says so, and the waiters of that
 * key ask again at once instead of at their next poll. A wake-up is a hint:
 * the waiter is admitted only by its own request, so a lost, late or repeated
 * wake-up costs time, never safety.
 *
 * @since 0.4.0
 */
import { Clock, cancellableSleep } from '../Clock.js'

/**
 * What a permit store with wake-ups offers its waiters (see `PermitStore.wakeups`).
 *
 * - `seen(key)`: how many wake-ups of `key` this client has had; read it
 *   before a request is sent;
 * - `wait(key, after, ms, signal)`: resolves once there has been a wake-up of
 *   `key` beyond `after` (at once if one came meanwhile), after `ms`, or when
 *   `signal` aborts; never rejects.
 *
 * @example
 * import { PermitWakeups } from 'leaselock'
 * const napOrWake = (w: PermitWakeups, key: string) => w.wait(key, w.seen(key), 100)
 *
 * @since 0.4.0
 */
export interface PermitWakeups {
  readonly seen: (key: string) => number
  readonly wait: (key: string, after: number, ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * A registry of wake-ups on `clock`, with `notify(key)` for the store that
 * receives them. Counts are kept per key while someone waits or was woken.
 *
 * @example
 * import { makeWakeups, VirtualClock } from 'leaselock'
 * const wakeups = makeWakeups(new VirtualClock())
 * const before = wakeups.seen('k')
 * wakeups.notify('k')
 * await wakeups.wait('k', before, 60_000) // at once: a wake-up came after `before`
 * assert.strictEqual(wakeups.seen('k'), before + 1)
 *
 * @since 0.4.0
 */
export const makeWakeups = (clock: Clock): PermitWakeups & { readonly notify: (key: string) => void } => {
  const counts = new Map<string, number>()
  const sleepers = new Map<string, Set<() => void>>()
  return {
    seen: (key) => counts.get(key) ?? 0,
    notify: (key) => {
      counts.set(key, (counts.get(key) ?? 0) + 1)
      sleepers.get(key)?.forEach((wake) => wake())
    },
    wait: async (key, after, ms, signal) => {
      if ((counts.get(key) ?? 0) > after) return
      const nap = cancellableSleep(clock, ms, signal)
      const set = sleepers.get(key) ?? new Set()
      sleepers.set(key, set)
      set.add(nap.cancel)
      await nap.done
      set.delete(nap.cancel)
      if (set.size === 0) sleepers.delete(key)
    }
  }
}
