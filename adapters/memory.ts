/**
 * An in-process store with the servers' semantics: TTL expiry on an injected
 * clock, compare-and-delete, compare-and-extend, fencing tokens. The embedded
 * default for a single process, and the fake the property tests run against.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Clock, realClock } from '../src/Clock.js'
import type { Grant, Store, WaitQueue } from '../src/Store.js'

/** A synchronous step as a TaskEither, without the combinator overhead of `TE.fromIO` on the hot path. */
const sync =
  <A>(f: () => A): TE.TaskEither<never, A> =>
  () =>
    Promise.resolve(E.right(f()))

interface Entry {
  readonly token: string
  readonly fence: bigint
  expiresAt: number
}

interface Waiter {
  readonly token: string
  readonly deadline: number
  /** Set when the key was handed to this waiter. */
  handed?: Grant
  /** Wakes the waiter's `awaitHandoff`, when one is pending. */
  wake?: (grant: Grant) => void
}

/**
 * @example
 * import { VirtualClock } from 'leaselock'
 * import { MemoryStoreOptions } from 'leaselock/memory'
 * const options: MemoryStoreOptions = { clock: new VirtualClock(), claimMs: 500 }
 *
 * @since 0.1.0
 */
export interface MemoryStoreOptions {
  /** The clock TTLs run on; the real monotonic clock by default. */
  readonly clock?: Clock
  /** Hand a released key straight to the first waiter (FIFO) instead of letting waiters poll; default `true`. */
  readonly handoff?: boolean
  /** TTL of a handed-over key until its new holder claims it, in ms (default 1000). */
  readonly claimMs?: number
}

/**
 * A memory store, plus `size()` (live keys) for tests and diagnostics.
 *
 * @example
 * import { memoryStore } from 'leaselock/memory'
 * const store = memoryStore()
 * assert.strictEqual(store.size(), 0)
 *
 * @since 0.1.0
 */
export interface MemoryStore extends Store {
  readonly size: () => number
}

/**
 * Creates an empty store. Fencing tokens come from one counter shared by all
 * keys, so they grow per key too, and nothing is kept for a key once it expires.
 * Expired entries are dropped when touched, and swept whenever the map doubles.
 * Waiters queue per key and a release hands the key to the first live one.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const lock = makeLock(memoryStore())
 * const first = await lock.tryAcquire('cache:rebuild', 5_000)()
 * const second = await lock.tryAcquire('cache:rebuild', 5_000)()
 * assert.ok(first._tag === 'Right' && first.right._tag === 'Some')
 * assert.ok(second._tag === 'Right' && second.right._tag === 'None')
 *
 * @since 0.1.0
 */
export const memoryStore = (options: MemoryStoreOptions = {}): MemoryStore => {
  const clock = options.clock ?? realClock
  const claimMs = options.claimMs ?? 1_000
  const entries = new Map<string, Entry>()
  const queues = new Map<string, Array<Waiter>>()
  let lastFence = 0n
  let sweepAt = 1024

  const sweep = (now: number): void => {
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
    sweepAt = Math.max(1024, entries.size * 2)
  }

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > clock.now()) return entry
    entries.delete(key)
    return undefined
  }

  const ours = (key: string, token: string): Entry | undefined => {
    const entry = live(key)
    return entry?.token === token ? entry : undefined
  }

  const grant = (entry: Entry, ttlMs: number): Grant => ({ fence: entry.fence, validityMs: ttlMs, revision: '' })

  const take = (key: string, token: string, ttlMs: number): Grant => {
    const now = clock.now()
    if (entries.size >= sweepAt) sweep(now)
    lastFence += 1n
    const entry: Entry = { token, fence: lastFence, expiresAt: now + ttlMs }
    entries.set(key, entry)
    return grant(entry, ttlMs)
  }

  const dequeue = (key: string, token: string): void => {
    const queue = queues.get(key)
    if (queue === undefined) return
    const rest = queue.filter((w) => w.token !== token)
    if (rest.length === 0) queues.delete(key)
    else queues.set(key, rest)
  }

  /** Frees a key we hold: to the first waiter still within its deadline, or to nobody. */
  const passOn = (key: string): void => {
    entries.delete(key)
    const queue = queues.get(key)
    if (queue === undefined) return
    for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
      if (waiter.deadline <= clock.now()) continue
      waiter.handed = take(key, waiter.token, claimMs)
      waiter.wake?.(waiter.handed)
      break
    }
    if (queue.length === 0) queues.delete(key)
  }

  const queue: WaitQueue = {
    acquireOrEnqueue: (key, token, ttlMs, waitMs) =>
      sync(() => {
        if (live(key) === undefined) return O.some(take(key, token, ttlMs))
        const waiters = queues.get(key) ?? []
        waiters.push({ token, deadline: clock.now() + waitMs })
        queues.set(key, waiters)
        return O.none
      }),
    awaitHandoff: async (key, token, ms, signal) => {
      const waiter = queues.get(key)?.find((w) => w.token === token)
      const handed = waiter === undefined ? ours(key, token) : undefined
      if (handed !== undefined) return O.some(grant(handed, handed.expiresAt - clock.now()))
      if (waiter === undefined) return clock.sleep(ms, signal).then(() => O.none)
      const done = new AbortController()
      const woken = new Promise<O.Option<Grant>>((resolve) => (waiter.wake = (g) => resolve(O.some(g))))
      const slept = clock
        .sleep(ms, signal === undefined ? done.signal : AbortSignal.any([signal, done.signal]))
        .then(() => O.none)
      const result = await Promise.race([woken, slept])
      done.abort()
      delete waiter.wake
      return result
    },
    poll: (key, token, ttlMs) =>
      sync(() => {
        const mine = ours(key, token)
        if (mine !== undefined) {
          mine.expiresAt = clock.now() + ttlMs
          return O.some(grant(mine, ttlMs))
        }
        if (live(key) !== undefined) return O.none
        dequeue(key, token)
        return O.some(take(key, token, ttlMs))
      }),
    leave: (key, token) =>
      sync(() => {
        dequeue(key, token)
        if (ours(key, token) !== undefined) passOn(key)
      })
  }

  return {
    name: 'memory',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: (key, token, ttlMs) => sync(() => (live(key) !== undefined ? O.none : O.some(take(key, token, ttlMs)))),
    release: (held) =>
      sync(() => {
        if (ours(held.key, held.token) === undefined) return false
        passOn(held.key)
        return true
      }),
    extend: (held, ttlMs) =>
      sync(() => {
        const entry = ours(held.key, held.token)
        if (entry === undefined) return O.none
        entry.expiresAt = clock.now() + ttlMs
        return O.some(grant(entry, ttlMs))
      }),
    ...(options.handoff === false ? {} : { queue }),
    size: () => {
      sweep(clock.now())
      return entries.size
    }
  }
}
