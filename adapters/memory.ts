/**
 * An in-process store with the servers' semantics: TTL expiry on an injected
 * clock, compare-and-delete, compare-and-extend, fencing tokens, and a FIFO
 * wait queue whose handovers reach waiters as notifications, like Redis
 * pub/sub. The embedded default for a single process, and the model the
 * property tests run against (they can delay, drop or repeat notifications,
 * and run clients with different settings over the same data).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Clock, realClock } from '../src/Clock.js'
import { makeHandovers } from '../src/Handovers.js'
import { Inspection, unsupported } from '../src/Inspection.js'
import type { Grant, Queued, Store, WaitQueue } from '../src/Store.js'

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

/** A waiter's place in a key's queue (the "server" side). */
interface QueueEntry {
  readonly token: string
  readonly deadline: number
  /** The claim TTL the waiter's own client asked for. */
  readonly claimMs: number
  /** Sends the handover notification to the waiter's client. */
  readonly notify: (fence: bigint, claimMs: number) => void
}

/** The data every client of one memory store shares: what a server holds. */
interface Shared {
  readonly clock: Clock
  readonly entries: Map<string, Entry>
  readonly queues: Map<string, Array<QueueEntry>>
  lastFence: bigint
  sweepAt: number
}

/**
 * @example
 * import { MemoryClientOptions } from 'leaselock/memory'
 * const options: MemoryClientOptions = { claimMs: 500 }
 *
 * @since 0.2.0
 */
export interface MemoryClientOptions {
  /** Hand a released key straight to the first waiter (FIFO) instead of letting waiters poll; default `true`. */
  readonly handoff?: boolean
  /** TTL of a key handed to one of this client's waiters until it claims it, in ms (default 1000). */
  readonly claimMs?: number
  /**
   * Carries each handover notification to this client: `deliver(notify)`
   * must call `notify` (at once by default). A model can delay it, drop it
   * or call it twice, as a network may.
   */
  readonly deliver?: (notify: () => void) => void
}

/**
 * @example
 * import { VirtualClock } from 'leaselock'
 * import { MemoryStoreOptions } from 'leaselock/memory'
 * const options: MemoryStoreOptions = { clock: new VirtualClock(), claimMs: 500 }
 *
 * @since 0.1.0
 */
export interface MemoryStoreOptions extends MemoryClientOptions {
  /** The clock TTLs run on; the real monotonic clock by default. */
  readonly clock?: Clock
}

/**
 * What a memory store holds for a key: for tests and diagnostics.
 *
 * @example
 * import { MemoryHolder } from 'leaselock/memory'
 * const describe = (h: MemoryHolder) => `${h.token} until ${h.expiresAt} (fence ${h.fence})`
 *
 * @since 0.2.0
 */
export interface MemoryHolder {
  readonly token: string
  readonly fence: bigint
  readonly expiresAt: number
}

/**
 * A memory store, plus `size()` (live keys), `holder(key)`, `queued(key)` and
 * `client()` for tests and diagnostics.
 *
 * @example
 * import { memoryStore } from 'leaselock/memory'
 * const store = memoryStore()
 * assert.strictEqual(store.size(), 0)
 *
 * @since 0.1.0
 */
export interface MemoryStore extends Store {
  /** How many keys are held now. */
  readonly size: () => number
  /** Who holds `key` now, if anyone. */
  readonly holder: (key: string) => O.Option<MemoryHolder>
  /** The tokens queued for `key`, first first (deadlines not checked). */
  readonly queued: (key: string) => ReadonlyArray<string>
  /** Another client of the same data, with settings of its own (like a second process on one server). */
  readonly client: (options?: MemoryClientOptions) => MemoryStore
}

const DEFAULT_CLAIM_MS = 1_000

const clientOf = (shared: Shared, options: MemoryClientOptions): MemoryStore => {
  const { clock, entries, queues } = shared
  const claimMs = options.claimMs !== undefined && Number.isSafeInteger(options.claimMs) && options.claimMs > 0 ? options.claimMs : DEFAULT_CLAIM_MS
  const deliver = options.deliver ?? ((notify: () => void) => notify())
  const waiters = makeHandovers(clock)

  const sweep = (now: number): void => {
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
    shared.sweepAt = Math.max(1024, entries.size * 2)
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
    if (entries.size >= shared.sweepAt) sweep(now)
    shared.lastFence += 1n
    const entry: Entry = { token, fence: shared.lastFence, expiresAt: now + ttlMs }
    entries.set(key, entry)
    return grant(entry, ttlMs)
  }

  const queued = (key: string, token: string): boolean => queues.get(key)?.some((w) => w.token === token) === true

  const dequeue = (key: string, token: string): void => {
    const queue = queues.get(key)
    if (queue === undefined) return
    const rest = queue.filter((w) => w.token !== token)
    if (rest.length === 0) queues.delete(key)
    else queues.set(key, rest)
  }

  /** Frees a key we hold: to the first waiter still within its deadline (for its claim TTL), or to nobody. */
  const passOn = (key: string): void => {
    entries.delete(key)
    const queue = queues.get(key)
    if (queue === undefined) return
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (next.deadline <= clock.now()) continue
      const handed = take(key, next.token, next.claimMs)
      next.notify(handed.fence, next.claimMs)
      break
    }
    if (queue.length === 0) queues.delete(key)
  }

  /** This client's side of a notification: remember the newest live handover and wake its waiter. */
  const notifier =
    (token: string) =>
    (fence: bigint, claim: number): void =>
      deliver(() => waiters.notify(token, { fence, validityMs: claim, revision: '' }))

  const enqueue = (key: string, token: string, waitMs: number, atHead: boolean): void => {
    const entry: QueueEntry = { token, deadline: clock.now() + waitMs, claimMs, notify: notifier(token) }
    const queue = queues.get(key) ?? []
    if (atHead) queue.unshift(entry)
    else queue.push(entry)
    queues.set(key, queue)
    waiters.register(token)
  }

  const granted = (key: string, token: string, g: Grant): Queued => {
    waiters.forget(token)
    dequeue(key, token)
    return { _tag: 'Granted', grant: g }
  }

  /** Held by another: the counter as it stands, and a poll due when the holder's lease ends, at most one claim TTL away. */
  const waiting = (holder: Entry): Queued => ({
    _tag: 'Waiting',
    seen: shared.lastFence,
    recheckMs: Math.min(claimMs, Math.max(1, Math.ceil(holder.expiresAt - clock.now())))
  })

  const inspection = (key: string): Inspection => {
    const entry = live(key)
    const now = clock.now()
    return {
      key,
      held: entry !== undefined,
      remainingMs: E.right(entry === undefined ? 0 : Math.ceil(entry.expiresAt - now)),
      fence:
        entry === undefined
          ? E.left(unsupported('memory', 'fence', 'the memory store keeps nothing of a key once it is free'))
          : E.right(entry.fence),
      waiters: E.right((queues.get(key) ?? []).filter((w) => w.deadline > now).length)
    }
  }

  const queue: WaitQueue = {
    acquireOrEnqueue: (key, token, ttlMs, waitMs) =>
      sync(() => {
        const holder = live(key)
        if (holder === undefined) return granted(key, token, take(key, token, ttlMs))
        enqueue(key, token, waitMs, false)
        return waiting(holder)
      }),
    awaitHandoff: (_key, token, ms, after, signal) => waiters.wait(token, ms, after, signal),
    poll: (key, token, ttlMs, waitMs) =>
      sync(() => {
        const mine = ours(key, token)
        if (mine !== undefined) {
          mine.expiresAt = Math.max(mine.expiresAt, clock.now() + ttlMs)
          return granted(key, token, grant(mine, ttlMs))
        }
        const holder = live(key)
        if (holder === undefined) return granted(key, token, take(key, token, ttlMs))
        if (!queued(key, token)) enqueue(key, token, waitMs, true)
        return waiting(holder)
      }),
    leave: (key, token) =>
      sync(() => {
        waiters.forget(token)
        dequeue(key, token)
        if (ours(key, token) !== undefined) passOn(key)
      })
  }

  const store: MemoryStore = {
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
    inspect: (key) => sync(() => inspection(key)),
    size: () => {
      sweep(clock.now())
      return entries.size
    },
    holder: (key) => {
      const entry = live(key)
      return entry === undefined ? O.none : O.some({ token: entry.token, fence: entry.fence, expiresAt: entry.expiresAt })
    },
    queued: (key) => (queues.get(key) ?? []).map((w) => w.token),
    client: (more = {}) => clientOf(shared, more)
  }
  return store
}

/**
 * Creates an empty store. Fencing tokens come from one counter shared by all
 * keys, so they grow per key too, and nothing is kept for a key once it expires.
 * Expired entries are dropped when touched, and swept whenever the map doubles.
 * Waiters queue per key and a release hands the key to the first live one,
 * set to its token for its client's claim TTL, and notifies it through its
 * client's `deliver`. A waiter whose notification never came finds the key
 * when it polls (and is put back at the head of the queue if the handover
 * lapsed meanwhile). `inspect` tells whether a key is held, for how long, and
 * how many waiters queue for it; the fence only while the key is held (a free
 * key has left no trace).
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
export const memoryStore = (options: MemoryStoreOptions = {}): MemoryStore =>
  clientOf({ clock: options.clock ?? realClock, entries: new Map(), queues: new Map(), lastFence: 0n, sweepAt: 1024 }, options)

export * from './memoryPermits.js'
