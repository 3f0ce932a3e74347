/**
 * The port between semaphores and read-write locks and a backend: weighted
 * permits on a key, each a lease of its own, admitted in FIFO order.
 *
 * @since 0.4.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from '../LockError.js'
import type { Grant, Held } from '../Store.js'
import type { PermitWakeups } from './Wakeups.js'

/**
 * One request for a permit.
 *
 * @example
 * import { PermitRequest } from 'leaselock'
 * const request: PermitRequest = { key: 'api:quota', token: 'q0Jm1yP3x2QeWk6mB8tS3A', weight: 1, limit: 5, ttlMs: 10_000, waitMs: 0 }
 *
 * @since 0.4.0
 */
export interface PermitRequest {
  readonly key: string
  /** This acquisition's own token: only it can release or extend the permit. */
  readonly token: string
  /** How much of the capacity the permit takes (1 for a semaphore permit or a reader; the whole capacity for a writer). */
  readonly weight: number
  /** The capacity the caller believes the key has (see {@link PermitStore.acquire} for a disagreement). */
  readonly limit: number
  /** How long the permit lives unless extended, in ms. */
  readonly ttlMs: number
  /** 0: answer at once. Otherwise, if not admitted, keep (or take) a place in the key's wait queue for `min(waitMs, ttlMs)`. */
  readonly waitMs: number
}

/**
 * Weighted permits on a key. The admission rule, the same on every backend:
 *
 * - **Capacity.** The key's capacity is the smallest `limit` among the
 *   caller's and those of the live permits (a call with a larger limit than
 *   the holders' cannot raise it while they hold; a smaller one lowers it for
 *   new permits, and nobody is admitted until the weights held fit it).
 * - **FIFO.** The key keeps a queue of waiters in arrival order; a request is
 *   admitted only if the weights held, plus the weights of every live waiter
 *   ahead of it in the queue, plus its own weight fit the capacity. So a
 *   waiter is never overtaken by a later one, and a waiting writer (whose
 *   weight is the whole capacity) blocks every later reader.
 * - **Leases.** Each permit has its own token and its own TTL and expires
 *   alone; each grant takes a fence from a counter of the key, strictly
 *   above every earlier grant's on that key. A waiter's queue entry lives
 *   `min(waitMs, ttlMs)` from its latest request: a waiter that stops asking
 *   drops out, like a holder that stops extending.
 * - **Idempotence.** A request whose token already holds a permit (a re-sent
 *   request) resets its TTL and answers its grant again.
 *
 * Time is the backend's: the memory store's clock, the Redis server's `TIME`.
 *
 * @example
 * import { PermitStore } from 'leaselock'
 * import { memoryPermitStore } from 'leaselock/memory'
 * const store: PermitStore = memoryPermitStore()
 *
 * @since 0.4.0
 */
export interface PermitStore {
  /** A short name for messages and benchmarks, e.g. `"redis"`. */
  readonly name: string
  /** Backend-specific key rules, checked before any I/O. */
  readonly checkKey: (key: string) => E.Either<LockError, string>
  /** Backend-specific TTL rules, checked before any I/O. */
  readonly checkTtl: (ttlMs: number) => E.Either<LockError, number>
  /** Admits the request (`some(grant)`), or answers `none` (and, with `waitMs` above 0, queues it). */
  readonly acquire: (request: PermitRequest) => TE.TaskEither<LockError, O.Option<Grant>>
  /**
   * Removes the token's permit and its queue entry: `true` if it held a
   * permit, `false` if not (expired, never granted, or only queued).
   */
  readonly release: (held: Held) => TE.TaskEither<LockError, boolean>
  /** Resets the permit's TTL if the token still holds it: `some(grant)` with its fence, or `none`. */
  readonly extend: (held: Held, ttlMs: number) => TE.TaskEither<LockError, O.Option<Grant>>
  /**
   * Present when the store tells its waiters that permits of a key were
   * freed (a release, or a waiter leaving the queue): they then ask again at
   * once rather than at their next poll. Without it, waiters only poll.
   */
  readonly wakeups?: PermitWakeups
}
