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
import type { Grant, Store } from '../src/Store.js'

interface Entry {
  readonly token: string
  readonly fence: bigint
  expiresAt: number
}

/**
 * @since 0.1.0
 */
export interface MemoryStoreOptions {
  /** The clock TTLs run on; the real monotonic clock by default. */
  readonly clock?: Clock
}

/**
 * A memory store, plus `size()` (live keys) for tests and diagnostics.
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
  const entries = new Map<string, Entry>()
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

  return {
    name: 'memory',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: (key, token, ttlMs) =>
      TE.fromIO(() => {
        if (live(key) !== undefined) return O.none
        const now = clock.now()
        if (entries.size >= sweepAt) sweep(now)
        lastFence += 1n
        const entry: Entry = { token, fence: lastFence, expiresAt: now + ttlMs }
        entries.set(key, entry)
        return O.some(grant(entry, ttlMs))
      }),
    release: (held) =>
      TE.fromIO(() => (ours(held.key, held.token) === undefined ? false : entries.delete(held.key))),
    extend: (held, ttlMs) =>
      TE.fromIO(() => {
        const entry = ours(held.key, held.token)
        if (entry === undefined) return O.none
        entry.expiresAt = clock.now() + ttlMs
        return O.some(grant(entry, ttlMs))
      }),
    size: () => {
      sweep(clock.now())
      return entries.size
    }
  }
}
