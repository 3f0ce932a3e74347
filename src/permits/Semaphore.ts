/**
 * A counting semaphore with leases: at most `limit` permits on a key at once,
 * each with its own token, TTL and fence, granted in FIFO order.
 *
 * @since 0.4.0
 */
import type * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Environment } from '../Environment.js'
import type { LockError } from '../LockError.js'
import { Permit, PermitAcquireOptions, PermitsOptions, UsePermit, WithPermitOptions, makePermits } from './Permits.js'
import type { PermitStore } from './PermitStore.js'

/**
 * A semaphore bound to a store. Every method checks its arguments before any
 * I/O (`InvalidArgument`) and never rejects.
 *
 * @example
 * import { Semaphore } from 'leaselock'
 * const one = (semaphore: Semaphore) => semaphore.tryAcquire('api:quota', 5, 10_000)
 *
 * @since 0.4.0
 */
export interface Semaphore {
  readonly store: PermitStore
  readonly env: Environment
  /** One attempt: `some(permit)` if a permit was free and nobody queued ahead, else `none`. */
  readonly tryAcquire: (key: string, limit: number, ttlMs: number) => TE.TaskEither<LockError, O.Option<Permit>>
  /** Waits in the key's FIFO queue until `timeoutMs` after the call (0 = one attempt), then fails with `Timeout` (`LOCK_TIMEOUT`). */
  readonly acquire: (key: string, limit: number, ttlMs: number, timeoutMs: number, options?: PermitAcquireOptions) => TE.TaskEither<LockError, Permit>
  /** Gives the permit back; `NotHeld` if it had expired. */
  readonly release: (permit: Permit) => TE.TaskEither<LockError, void>
  /** Resets the permit's TTL to `ttlMs`; `NotHeld` if it had expired. */
  readonly extend: (permit: Permit, ttlMs: number) => TE.TaskEither<LockError, Permit>
  /**
   * Acquires, runs `use` with the permit and an `AbortSignal` that fires if
   * the permit is lost, renews it meanwhile, and always releases it.
   */
  readonly withPermit: <E, A>(key: string, limit: number, ttlMs: number, options: WithPermitOptions, use: UsePermit<E, A>) => TE.TaskEither<E | LockError, A>
}

/**
 * Binds a semaphore to a store. `limit` is given per call; when callers
 * disagree, the smallest limit among the caller's and the live permits'
 * applies to new permits (see `PermitStore`).
 *
 * @example
 * import { makeSemaphore } from 'leaselock'
 * import { memoryPermitStore } from 'leaselock/memory'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 *
 * const semaphore = makeSemaphore(memoryPermitStore())
 * const result = await semaphore.withPermit('api:quota', 5, 10_000, { timeoutMs: 1_000 }, (permit) => TE.right(permit.fence))()
 * assert.ok(result._tag === 'Right')
 *
 * @since 0.4.0
 */
export const makeSemaphore = (store: PermitStore, options: PermitsOptions = {}): Semaphore => {
  const permits = makePermits(store, options)
  return {
    store,
    env: permits.env,
    tryAcquire: (key, limit, ttlMs) => permits.tryAcquire(key, 1, limit, ttlMs),
    acquire: (key, limit, ttlMs, timeoutMs, opts) => permits.acquire(key, 1, limit, ttlMs, timeoutMs, opts),
    release: permits.release,
    extend: permits.extend,
    withPermit: (key, limit, ttlMs, opts, use) => permits.withPermit(key, 1, limit, ttlMs, opts, use)
  }
}
