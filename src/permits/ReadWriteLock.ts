/**
 * A read-write lock with leases: many readers or one writer on a key, in
 * FIFO order across both kinds (a waiting writer blocks later readers, so a
 * stream of readers cannot starve it).
 *
 * @since 0.4.0
 */
import type * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Environment } from '../Environment.js'
import type { LockError } from '../LockError.js'
import { MAX_PERMITS, Permit, PermitAcquireOptions, PermitsOptions, UsePermit, WithPermitOptions, makePermits } from './Permits.js'
import type { PermitStore } from './PermitStore.js'

/**
 * A read-write lock bound to a store. A reader takes one permit of a
 * capacity of {@link MAX_PERMITS}, a writer all of them: "many readers or one
 * writer" is the permits' admission rule. Every method checks its arguments
 * before any I/O and never rejects.
 *
 * @example
 * import { ReadWriteLock } from 'leaselock'
 * const read = (rw: ReadWriteLock) => rw.tryAcquireRead('catalog', 10_000)
 *
 * @since 0.4.0
 */
export interface ReadWriteLock {
  readonly store: PermitStore
  readonly env: Environment
  /** One attempt at a read lease: `some` if no writer holds the key or waits ahead. */
  readonly tryAcquireRead: (key: string, ttlMs: number) => TE.TaskEither<LockError, O.Option<Permit>>
  /** One attempt at the write lease: `some` if nobody holds the key or waits ahead. */
  readonly tryAcquireWrite: (key: string, ttlMs: number) => TE.TaskEither<LockError, O.Option<Permit>>
  /** Waits in the key's FIFO queue for a read lease until `timeoutMs` (then `Timeout`). */
  readonly acquireRead: (key: string, ttlMs: number, timeoutMs: number, options?: PermitAcquireOptions) => TE.TaskEither<LockError, Permit>
  /** Waits in the key's FIFO queue for the write lease until `timeoutMs` (then `Timeout`). */
  readonly acquireWrite: (key: string, ttlMs: number, timeoutMs: number, options?: PermitAcquireOptions) => TE.TaskEither<LockError, Permit>
  /** Gives a read or write lease back; `NotHeld` if it had expired. */
  readonly release: (lease: Permit) => TE.TaskEither<LockError, void>
  /** Resets a lease's TTL; `NotHeld` if it had expired. */
  readonly extend: (lease: Permit, ttlMs: number) => TE.TaskEither<LockError, Permit>
  /** Runs `use` under a read lease (renewed, with a lost-lease signal), always releasing it. */
  readonly withRead: <E, A>(key: string, ttlMs: number, options: WithPermitOptions, use: UsePermit<E, A>) => TE.TaskEither<E | LockError, A>
  /** Runs `use` under the write lease (renewed, with a lost-lease signal), always releasing it. */
  readonly withWrite: <E, A>(key: string, ttlMs: number, options: WithPermitOptions, use: UsePermit<E, A>) => TE.TaskEither<E | LockError, A>
}

/**
 * Binds a read-write lock to a store. Use a key for a read-write lock or for
 * a semaphore, not both: they share the admission rule, and a semaphore's
 * smaller limit would keep every writer out.
 *
 * @example
 * import { makeReadWriteLock } from 'leaselock'
 * import { memoryPermitStore } from 'leaselock/memory'
 *
 * const rw = makeReadWriteLock(memoryPermitStore())
 * const reader = await rw.acquireRead('catalog', 10_000, 0)()
 * const writer = await rw.tryAcquireWrite('catalog', 10_000)()
 * assert.ok(reader._tag === 'Right')
 * assert.ok(writer._tag === 'Right' && writer.right._tag === 'None')
 *
 * @since 0.4.0
 */
export const makeReadWriteLock = (store: PermitStore, options: PermitsOptions = {}): ReadWriteLock => {
  const permits = makePermits(store, options)
  return {
    store,
    env: permits.env,
    tryAcquireRead: (key, ttlMs) => permits.tryAcquire(key, 1, MAX_PERMITS, ttlMs),
    tryAcquireWrite: (key, ttlMs) => permits.tryAcquire(key, MAX_PERMITS, MAX_PERMITS, ttlMs),
    acquireRead: (key, ttlMs, timeoutMs, opts) => permits.acquire(key, 1, MAX_PERMITS, ttlMs, timeoutMs, opts),
    acquireWrite: (key, ttlMs, timeoutMs, opts) => permits.acquire(key, MAX_PERMITS, MAX_PERMITS, ttlMs, timeoutMs, opts),
    release: permits.release,
    extend: permits.extend,
    withRead: (key, ttlMs, opts, use) => permits.withPermit(key, 1, MAX_PERMITS, ttlMs, opts, use),
    withWrite: (key, ttlMs, opts, use) => permits.withPermit(key, MAX_PERMITS, MAX_PERMITS, ttlMs, opts, use)
  }
}
