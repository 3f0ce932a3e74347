/**
 * A lease: proof that we hold a key, and until when we can be sure of it.
 *
 * @since 0.1.0
 */
import type { Grant, Held } from './Store.js'

/**
 * Times are readings of the injected monotonic {@link Clock}, taken when the
 * request was *sent* (so network time counts against validity, never for it).
 *
 * @example
 * import { Lease } from 'leaselock'
 * const remaining = (lease: Lease, now: number): number => Math.max(0, lease.validUntil - now)
 *
 * @since 0.1.0
 */
export interface Lease extends Held {
  readonly key: string
  /** This acquisition's own random token; only it can release or extend the key. */
  readonly token: string
  /** The TTL asked for, in milliseconds. */
  readonly ttlMs: number
  /** Clock reading when the acquire (or the latest extend) request was sent. */
  readonly acquiredAt: number
  /** Until this clock reading the key is provably ours: `acquiredAt + validity − drift`. */
  readonly validUntil: number
  /** Fencing token: greater than every earlier acquisition's on this key. Pass it to the resource you protect. */
  readonly fence: bigint
  /** Opaque backend data (e.g. a CAS value) that identifies this exact grant. */
  readonly revision: string
}

/**
 * Clock drift and timer imprecision allowance: 1% of the TTL plus 2 ms (the Redlock rule).
 *
 * @example
 * import { driftMs } from 'leaselock'
 * assert.strictEqual(driftMs(3000), 32)
 *
 * @since 0.1.0
 */
export const driftMs = (ttlMs: number): number => Math.floor(ttlMs * 0.01) + 2

/**
 * Builds the lease for a grant obtained by a request sent at `sentAt`.
 *
 * @example
 * import { fromGrant } from 'leaselock'
 * const lease = fromGrant('k', 'tok', 3000, 10, { fence: 1n, validityMs: 3000, revision: '' })
 * assert.strictEqual(lease.validUntil, 10 + 3000 - 32)
 *
 * @since 0.1.0
 */
export const fromGrant = (key: string, token: string, ttlMs: number, sentAt: number, grant: Grant): Lease => ({
  key,
  token,
  ttlMs,
  acquiredAt: sentAt,
  validUntil: sentAt + grant.validityMs - driftMs(ttlMs),
  fence: grant.fence,
  revision: grant.revision
})

/**
 * Whether the lease is still provably held at clock reading `now`.
 *
 * @example
 * import { isValidAt, fromGrant } from 'leaselock'
 * const lease = fromGrant('k', 'tok', 1000, 0, { fence: 1n, validityMs: 1000, revision: '' })
 * assert.ok(isValidAt(500)(lease))
 * assert.ok(!isValidAt(990)(lease))
 *
 * @since 0.1.0
 */
export const isValidAt =
  (now: number) =>
  (lease: Lease): boolean =>
    now < lease.validUntil
