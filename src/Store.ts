/**
 * The port between the lock core and a backend: three atomic operations.
 *
 * A protocol module (`src/redis`, `src/memcached`) turns a `Driver` into a
 * `Store`; the memory store implements it directly.
 *
 * @since 0.1.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Inspection } from './Inspection.js'
import type { LockError } from './LockError.js'
import type { FenceCounter } from './quorum/FenceCounter.js'

/**
 * What a backend answers when it grants or extends a lease.
 *
 * @example
 * import { Grant } from 'leaselock'
 * const grant: Grant = { fence: 7n, validityMs: 3_000, revision: '7' }
 *
 * @since 0.1.0
 */
export interface Grant {
  /**
   * Fencing token: strictly greater than every earlier grant's on this key
   * (within the backend's guarantee; see the backend's docs).
   */
  readonly fence: bigint
  /**
   * How long, from the moment the request was sent, the backend guarantees the
   * key stays ours (a backend with coarse TTLs reports less than asked).
   */
  readonly validityMs: number
  /** Opaque backend data needed to release or extend this exact grant (e.g. a CAS value). */
  readonly revision: string
}

/**
 * A grant as the store needs it back: key, token and revision.
 *
 * @example
 * import { Held } from 'leaselock'
 * const held: Held = { key: 'jobs:nightly', token: 'q0Jm1yP3x2QeWk6mB8tS3A', revision: '7' }
 *
 * @since 0.1.0
 */
export interface Held {
  readonly key: string
  readonly token: string
  readonly revision: string
}

/**
 * What a queued request learned: the key is ours now (`Granted`), or it is held
 * by someone else and its fencing counter stood at `seen` when the store
 * answered (`Waiting`; we are in its queue).
 *
 * `seen` is what makes a handover provable: a handover with a fence above
 * `seen` happened after this request was sent. `recheckMs`, when the store
 * gives it, says the waiter will be notified of a handover (its notification
 * channel is up) and how long it may wait for one before polling as a safety
 * net: about when the holder's lease ends (the key may then be free with
 * nobody notified), at most one claim TTL (a lost notification is then found
 * before the claim lapses). Without it, the waiter polls on its retry policy.
 *
 * @example
 * import { Queued } from 'leaselock'
 * const waiting: Queued = { _tag: 'Waiting', seen: 41n, recheckMs: 1_000 }
 * const granted: Queued = { _tag: 'Granted', grant: { fence: 42n, validityMs: 3_000, revision: '42' } }
 *
 * @since 0.2.0
 */
export type Queued =
  | { readonly _tag: 'Granted'; readonly grant: Grant }
  | { readonly _tag: 'Waiting'; readonly seen: bigint; readonly recheckMs?: number }

/**
 * An optional capability of a store: a FIFO queue of waiters per key, to
 * which a release hands the key over directly instead of freeing it.
 *
 * A handed-over key is set to the waiter's token for the claim TTL recorded in
 * the waiter's queue entry (the waiter's own store decides it, never the
 * releaser's), its fencing counter is incremented, and the waiter is notified
 * with that fence and that claim TTL. The waiter then claims the key (extends
 * it to its own TTL). Notifications may be late, lost, repeated or out of
 * order: the lock core proves a handover only from requests that saw a smaller
 * fence (see `QueuedWait`).
 *
 * @example
 * import { Store } from 'leaselock'
 * const canQueue = (store: Store): boolean => store.queue !== undefined
 *
 * @since 0.1.0
 */
export interface WaitQueue {
  /** Takes the key if free (`Granted`); otherwise joins its queue for `waitMs` and answers `Waiting`. */
  readonly acquireOrEnqueue: (key: string, token: string, ttlMs: number, waitMs: number) => TE.TaskEither<LockError, Queued>
  /**
   * Waits up to `ms` for a notification that the key was handed to `token`
   * with a fence above `after`: `some(grant)` (its `fence` the handover's,
   * its `validityMs` the claim TTL the store applied) once one came, `none`
   * when the time passed or `signal` aborted. A notification at or below
   * `after` is stale and ignored; of several, the highest fence wins; a
   * notification is answered once. Never rejects.
   */
  readonly awaitHandoff: (key: string, token: string, ms: number, after: bigint, signal?: AbortSignal) => Promise<O.Option<Grant>>
  /**
   * The fallback for a lost notification or an expired holder: `Granted` if
   * the key is ours now (handed over, or free and taken, either way for
   * `ttlMs`); otherwise `Waiting`, and a waiter that is no longer queued (its
   * handover lapsed unclaimed) is put back at the head of the queue for `waitMs`.
   */
  readonly poll: (key: string, token: string, ttlMs: number, waitMs: number) => TE.TaskEither<LockError, Queued>
  /** Leaves the queue; if a handover raced the exit, passes the key on to the next waiter. */
  readonly leave: (key: string, token: string) => TE.TaskEither<LockError, void>
}

/**
 * @example
 * import { Store } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * const store: Store = memoryStore()
 *
 * @since 0.1.0
 */
export interface Store {
  /** A short name for messages and benchmarks, e.g. `"redis"`. */
  readonly name: string
  /** Backend-specific key rules (length, characters), checked before any I/O. */
  readonly checkKey: (key: string) => E.Either<LockError, string>
  /** Backend-specific TTL rules (e.g. Memcached's 30-day limit), checked before any I/O. */
  readonly checkTtl: (ttlMs: number) => E.Either<LockError, number>
  /** Sets `key` to `token` for `ttlMs` if the key is free: `some(grant)`, or `none` if it is held. */
  readonly acquire: (key: string, token: string, ttlMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
  /** Deletes the key only if it still holds this grant: `true` if deleted, `false` if not ours (expired or taken). */
  readonly release: (held: Held) => TE.TaskEither<LockError, boolean>
  /**
   * Resets the TTL only if the key still holds this grant's token: `some(grant)`
   * with the new revision and the fence of the key as it stands (the holder
   * carries it on: a late or repeated acquire of the same token may have taken
   * the key again under a larger fence after it lapsed), or `none`.
   */
  readonly extend: (held: Held, ttlMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
  /** Present when waiters can queue for a key and be handed it on release (see {@link WaitQueue}). */
  readonly queue?: WaitQueue
  /**
   * Present when the store can tell what it holds for a key (see
   * `Inspection`): reads only, with the key already checked. Use it through
   * `inspect(store, key)`, which checks the key first.
   */
  readonly inspect?: (key: string) => TE.TaskEither<LockError, Inspection>
  /** Where this store lives, for messages, e.g. `"redis 127.0.0.1:6380"`; a quorum names its nodes by it. */
  readonly label?: string
  /** Present when the store keeps a counter per key that a quorum can read and raise, to fence across nodes (see `quorumStore`). */
  readonly fenceCounter?: FenceCounter
}
