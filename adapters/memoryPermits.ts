/**
 * An in-process permit store: the model of the `PermitStore` rules (FIFO
 * admission of weighted permits, per-permit TTLs on an injected clock,
 * fences), the embedded default for one process, and what the semaphore and
 * read-write lock properties run against.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Clock, realClock } from '../src/Clock.js'
import type { PermitStore } from '../src/permits/PermitStore.js'
import type { Grant } from '../src/Store.js'
import { makeWakeups } from '../src/permits/Wakeups.js'

/**
 * A live permit, as a memory permit store holds it.
 *
 * @example
 * import { MemoryPermit } from 'leaselock/memory'
 * const describe = (p: MemoryPermit) => `${p.token} (weight ${p.weight}) until ${p.expiresAt}`
 *
 * @since 0.4.0
 */
export interface MemoryPermit {
  readonly token: string
  readonly weight: number
  readonly limit: number
  readonly fence: bigint
  readonly expiresAt: number
}

/**
 * A memory permit store, plus `holders(key)` and `queued(key)` for tests and
 * diagnostics.
 *
 * @example
 * import { memoryPermitStore } from 'leaselock/memory'
 * const store = memoryPermitStore()
 * assert.deepStrictEqual(store.holders('api'), [])
 *
 * @since 0.4.0
 */
export interface MemoryPermitStore extends PermitStore {
  /** The live permits on `key`, oldest grant first. */
  readonly holders: (key: string) => ReadonlyArray<MemoryPermit>
  /** The tokens of the live waiters of `key`, first first. */
  readonly queued: (key: string) => ReadonlyArray<string>
  /** Another client of the same data, with its own wake-ups (like a second process on one server). */
  readonly client: (options?: MemoryPermitClientOptions) => MemoryPermitStore
}

/**
 * @example
 * import { MemoryPermitClientOptions } from 'leaselock/memory'
 * const late: MemoryPermitClientOptions = { deliver: (wake) => setTimeout(wake, 50) }
 *
 * @since 0.4.0
 */
export interface MemoryPermitClientOptions {
  /**
   * Carries each wake-up to this client: `deliver(wake)` must call `wake`
   * (at once by default). A model can delay it, drop it or call it twice.
   */
  readonly deliver?: (wake: () => void) => void
}

/**
 * @example
 * import { VirtualClock } from 'leaselock'
 * import { MemoryPermitStoreOptions } from 'leaselock/memory'
 * const options: MemoryPermitStoreOptions = { clock: new VirtualClock() }
 *
 * @since 0.4.0
 */
export interface MemoryPermitStoreOptions extends MemoryPermitClientOptions {
  /** The clock TTLs run on; the real monotonic clock by default. */
  readonly clock?: Clock
}

interface Holder {
  readonly weight: number
  readonly limit: number
  readonly fence: bigint
  expiresAt: number
}

interface Waiter {
  readonly token: string
  readonly weight: number
  expiresAt: number
}

interface KeyState {
  readonly holders: Map<string, Holder>
  waiters: Array<Waiter>
}

const sync =
  <A>(f: () => A): TE.TaskEither<never, A> =>
  () =>
    Promise.resolve(E.right(f()))

const sum = (weights: Iterable<{ readonly weight: number }>): number => {
  let total = 0
  for (const w of weights) total += w.weight
  return total
}

/**
 * Creates an empty permit store (see `PermitStore` for the admission rule).
 * Fences come from one counter shared by all keys, so they grow per key too.
 * A release (or a waiter leaving) wakes the key's other waiters at once, in
 * every client (see `client`), through each client's `deliver`.
 * A key's state is dropped once it has no live permit and no live waiter.
 *
 * @example
 * import { makeSemaphore } from 'leaselock'
 * import { memoryPermitStore } from 'leaselock/memory'
 *
 * const store = memoryPermitStore()
 * const semaphore = makeSemaphore(store)
 * await semaphore.tryAcquire('api', 2, 5_000)()
 * await semaphore.tryAcquire('api', 2, 5_000)()
 * const third = await semaphore.tryAcquire('api', 2, 5_000)()
 * assert.ok(third._tag === 'Right' && third.right._tag === 'None')
 * assert.strictEqual(store.holders('api').length, 2)
 *
 * @since 0.4.0
 */
export const memoryPermitStore = (options: MemoryPermitStoreOptions = {}): MemoryPermitStore =>
  clientOf({ clock: options.clock ?? realClock, keys: new Map(), clients: new Set(), lastFence: 0n }, options)

/** The data every client of one memory permit store shares: what a server holds, and who to wake. */
interface Shared {
  readonly clock: Clock
  readonly keys: Map<string, KeyState>
  readonly clients: Set<(key: string) => void>
  lastFence: bigint
}

const clientOf = (shared: Shared, options: MemoryPermitClientOptions): MemoryPermitStore => {
  const { clock, keys } = shared
  const wakeups = makeWakeups(clock)
  const deliver = options.deliver ?? ((wake: () => void) => wake())
  shared.clients.add((key) => deliver(() => wakeups.notify(key)))
  const wakeAll = (key: string): void => shared.clients.forEach((wake) => wake(key))

  /** The key's state with what expired dropped (created empty when absent). */
  const stateOf = (key: string): KeyState => {
    const now = clock.now()
    const state = keys.get(key) ?? { holders: new Map<string, Holder>(), waiters: [] }
    for (const [token, h] of state.holders) if (h.expiresAt <= now) state.holders.delete(token)
    state.waiters = state.waiters.filter((w) => w.expiresAt > now)
    keys.set(key, state)
    return state
  }

  const tidy = (key: string, state: KeyState): void => {
    if (state.holders.size === 0 && state.waiters.length === 0) keys.delete(key)
  }

  const grant = (h: Holder, ttlMs: number): Grant => ({ fence: h.fence, validityMs: ttlMs, revision: '' })

  const store: MemoryPermitStore = {
    name: 'memory',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: ({ key, token, weight, limit, ttlMs, waitMs }) =>
      sync(() => {
        const state = stateOf(key)
        const now = clock.now()
        const mine = state.holders.get(token)
        const place = state.waiters.findIndex((w) => w.token === token)
        if (mine !== undefined) {
          // A late copy of a request must not cut an extend made since: never shorter.
          mine.expiresAt = Math.max(mine.expiresAt, now + ttlMs)
          if (place >= 0) state.waiters.splice(place, 1)
          return O.some(grant(mine, ttlMs))
        }
        const ahead = sum(place >= 0 ? state.waiters.slice(0, place) : state.waiters)
        let capacity = limit
        for (const h of state.holders.values()) capacity = Math.min(capacity, h.limit)
        if (sum(state.holders.values()) + ahead + weight <= capacity) {
          shared.lastFence += 1n
          const holder: Holder = { weight, limit, fence: shared.lastFence, expiresAt: now + ttlMs }
          state.holders.set(token, holder)
          if (place >= 0) state.waiters.splice(place, 1)
          return O.some(grant(holder, ttlMs))
        }
        if (waitMs > 0) {
          const expiresAt = now + Math.min(waitMs, ttlMs)
          if (place >= 0) state.waiters[place]!.expiresAt = expiresAt
          else state.waiters.push({ token, weight, expiresAt })
        }
        tidy(key, state)
        return O.none
      }),
    release: ({ key, token }) =>
      sync(() => {
        const state = stateOf(key)
        const queued = state.waiters.length
        state.waiters = state.waiters.filter((w) => w.token !== token)
        const held = state.holders.delete(token)
        // Something was freed, or a waiter ahead left: the others may fit now.
        if ((held || state.waiters.length < queued) && state.waiters.length > 0) wakeAll(key)
        tidy(key, state)
        return held
      }),
    extend: ({ key, token }, ttlMs) =>
      sync(() => {
        const state = stateOf(key)
        const mine = state.holders.get(token)
        tidy(key, state)
        if (mine === undefined) return O.none
        mine.expiresAt = clock.now() + ttlMs
        return O.some(grant(mine, ttlMs))
      }),
    wakeups: { seen: wakeups.seen, wait: wakeups.wait },
    holders: (key) => {
      const state = stateOf(key)
      tidy(key, state)
      return [...state.holders].map(([token, h]) => ({ token, weight: h.weight, limit: h.limit, fence: h.fence, expiresAt: h.expiresAt })).sort((a, b) => (a.fence < b.fence ? -1 : 1))
    },
    queued: (key) => {
      const state = stateOf(key)
      tidy(key, state)
      return state.waiters.map((w) => w.token)
    },
    client: (more = {}) => clientOf(shared, more)
  }
  return store
}
