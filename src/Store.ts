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
 * An optional capability of a store: a FIFO queue of waiters per key, to
 * which a release hands the key over directly instead of freeing it.
 *
 * A handed-over key is set to the waiter's token with a short claim TTL; the
 * waiter then extends it to its full TTL, so its lease's validity counts from
 * a request it sent itself.
 *
 * @example
 * import { Store } from 'leaselock'
 * const canQueue = (store: Store): boolean => store.queue !== undefined
 *
 * @since 0.1.0
 */
export interface WaitQueue {
  /** Takes the key if free (`some(grant)`); otherwise joins its queue for `waitMs` and answers `none`. */
  readonly acquireOrEnqueue: (key: string, token: string, ttlMs: number, waitMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
  /**
   * Waits up to `ms` for the key to be handed to `token`: `some(grant)` once it
   * was, `none` when the time passed or `signal` aborted. Never rejects.
   */
  readonly awaitHandoff: (key: string, token: string, ms: number, signal?: AbortSignal) => Promise<O.Option<Grant>>
  /** The fallback for a lost notification or an expired holder: `some(grant)` if the key is ours now (handed over, or free and taken). */
  readonly poll: (key: string, token: string, ttlMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
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
  /** Resets the TTL only if the key still holds this grant: `some(grant)` with the new revision, or `none`. */
  readonly extend: (held: Held, ttlMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
  /** Present when waiters can queue for a key and be handed it on release (see {@link WaitQueue}). */
  readonly queue?: WaitQueue
  /** Where this store lives, for messages, e.g. `"redis 127.0.0.1:6380"`; a quorum names its nodes by it. */
  readonly label?: string
  /** Present when the store keeps a counter per key that a quorum can read and raise, to fence across nodes (see `quorumStore`). */
  readonly fenceCounter?: FenceCounter
}
