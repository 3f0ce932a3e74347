/**
 * Claims in flight: a lease answered from a handover before its claim (the
 * extend to the TTL asked for) came back. Later operations on that lease wait
 * for the claim, so a claim can never land after them and undo them.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type { Clock } from './Clock.js'
import type { Lease } from './Lease.js'
import type { LockError } from './LockError.js'
import type { Held } from './Store.js'

/**
 * The claims a lock has in flight, keyed by key and token (not by lease
 * object: a copy of a lease is the same lease).
 *
 * - `begin` records a claim;
 * - `after` runs an operation on a lease once its claim (if any) has settled;
 *   from then on operations on that lease no longer wait;
 * - `settle` answers the claim's outcome: the lease with the full validity the
 *   store confirmed, or why it failed (`NotHeld`: the handover lapsed before
 *   the claim landed); `lease` itself when it has no claim in flight.
 *
 * A claim is forgotten once an operation or `settle` has waited for it;
 * `size` counts the claims kept (in flight, or settled and not yet swept).
 *
 * @example
 * import { makeClaims, fromGrant, VirtualClock } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 *
 * const claims = makeClaims(new VirtualClock())
 * const early = fromGrant('k', 'tok', 10_000, 0, { fence: 3n, validityMs: 1_000, revision: '3' })
 * const confirmed = fromGrant('k', 'tok', 10_000, 5, { fence: 3n, validityMs: 10_000, revision: '3' })
 * claims.begin(early, Promise.resolve(E.right(confirmed)))
 * assert.deepStrictEqual(await claims.settle({ ...early }), E.right(confirmed))
 *
 * @since 0.2.0
 */
export interface Claims {
  readonly begin: (lease: Lease, claim: Promise<E.Either<LockError, Lease>>) => void
  readonly after: <A>(held: Held, send: () => Promise<A>) => Promise<A>
  readonly settle: (lease: Lease) => Promise<E.Either<LockError, Lease>>
  readonly size: () => number
}

const idOf = (held: Held): string => `${held.token}\u0000${held.key}`

/**
 * An empty set of claims. Once a claim has settled only its outcome is kept,
 * and outcomes whose lease has expired (on `clock`) or whose claim failed are
 * dropped whenever the set has doubled since the last sweep: a lease nobody
 * confirms, extends or releases costs nothing past its life.
 *
 * @example
 * import { makeClaims, realClock } from 'leaselock'
 * const claims = makeClaims(realClock)
 * assert.strictEqual(await claims.after({ key: 'k', token: 't', revision: '' }, async () => 1), 1)
 *
 * @since 0.2.0
 */
export const makeClaims = (clock: Clock): Claims => {
  interface Entry {
    readonly claim: Promise<E.Either<LockError, Lease>>
    outcome?: E.Either<LockError, Lease>
  }
  const entries = new Map<string, Entry>()
  let sweepAt = 1024
  /** A settled claim whose outcome no longer matters: it failed, or its lease expired. */
  const over = (entry: Entry, now: number): boolean =>
    entry.outcome !== undefined && (E.isLeft(entry.outcome) || entry.outcome.right.validUntil <= now)
  const sweep = (): void => {
    const now = clock.now()
    for (const [id, entry] of entries) if (over(entry, now)) entries.delete(id)
    sweepAt = Math.max(1024, entries.size * 2)
  }
  const take = (held: Held): Promise<E.Either<LockError, Lease>> | undefined => {
    const id = idOf(held)
    const entry = entries.get(id)
    entries.delete(id)
    return entry === undefined || over(entry, clock.now()) ? undefined : entry.claim
  }
  return {
    begin: (lease, claim) => {
      if (entries.size >= sweepAt) sweep()
      const entry: Entry = { claim }
      entries.set(idOf(lease), entry)
      void claim.then((outcome) => (entry.outcome = outcome))
    },
    after: (held, send) => {
      const claim = take(held)
      return claim === undefined ? send() : claim.then(send)
    },
    settle: (lease) => take(lease) ?? Promise.resolve(E.right(lease)),
    size: () => entries.size
  }
}
