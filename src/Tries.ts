/**
 * One acquisition's way of trying, waiting between tries and giving up: the
 * strategy the acquire loop drives (plain polling, or a wait queue).
 *
 * @since 0.2.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as O from 'fp-ts/lib/Option.js'
import { Lease, fromGrant } from './Lease.js'
import type { LockError } from './LockError.js'
import type { Grant } from './Store.js'

/**
 * What a try answers: a lease, `none` (not this time), or a failure.
 *
 * @example
 * import { TryResult } from 'leaselock'
 * const gotIt = (r: TryResult): boolean => r._tag === 'Right' && r.right._tag === 'Some'
 *
 * @since 0.2.0
 */
export type TryResult<L extends Lease = Lease> = E.Either<LockError, O.Option<L>>

/**
 * @example
 * import { Tries } from 'leaselock'
 * const once = (tries: Tries) => tries.first()
 *
 * @since 0.2.0
 */
export interface Tries<L extends Lease = Lease> {
  readonly first: () => Promise<TryResult<L>>
  readonly next: () => Promise<TryResult<L>>
  /** Waits `ms`; answers `some(lease)` if the key was handed to us meanwhile. */
  readonly wait: (ms: number, signal: AbortSignal | undefined) => Promise<TryResult<L>>
  /** Gives up: leaves whatever the tries joined. Called once, after the last try settled. */
  readonly abandon: () => Promise<void>
}

/**
 * The lease a grant proves, or `none` when its validity was already spent when
 * the reply came (`now`): such a grant is no lease, and the caller gives it
 * back. A grant with no provable validity at all (Memcached TTLs of 2 s or
 * less) is still a lease, with `validUntil` in the past.
 *
 * @example
 * import { leaseOf } from 'leaselock'
 * const grant = { fence: 1n, validityMs: 100, revision: '' }
 * assert.strictEqual(leaseOf('k', 't', 100, 0, grant, 50)._tag, 'Some')
 * assert.strictEqual(leaseOf('k', 't', 100, 0, grant, 98)._tag, 'None')
 *
 * @since 0.2.0
 */
export const leaseOf = (key: string, token: string, ttlMs: number, sentAt: number, grant: Grant, now: number): O.Option<Lease> => {
  const lease = fromGrant(key, token, ttlMs, sentAt, grant)
  return grant.validityMs > 0 && lease.validUntil <= now ? { _tag: 'None' } : { _tag: 'Some', value: lease }
}
