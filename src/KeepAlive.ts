/**
 * Keeps a lease alive while work runs, and tells the holder the moment it can
 * no longer prove the lease is theirs.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { channels, publish } from './Diagnostics.js'
import type { Environment } from './Environment.js'
import type { Lease } from './Lease.js'
import type { LockError } from './LockError.js'

/**
 * @example
 * import { KeepAliveOptions } from 'leaselock'
 * const options: KeepAliveOptions = { renewFraction: 0.5 }
 *
 * @since 0.1.0
 */
export interface KeepAliveOptions {
  /** Renew the lease while it is held (default `true`). With `false` the signal still fires when the lease expires. */
  readonly autoRenew?: boolean
  /** Renew once this fraction of the lease's validity has elapsed (default 1/3, in (0, 1)). */
  readonly renewFraction?: number
}

/**
 * The reason an AbortSignal carries when a lease is lost: `refused` when the
 * store says the key is no longer ours, `expired` when renewals failed (or were
 * off) until the lease's validity ran out.
 *
 * @example
 * import { LeaseLostError } from 'leaselock'
 * const onLost = (signal: AbortSignal) =>
 *   signal.reason instanceof LeaseLostError ? `${signal.reason.key}: ${signal.reason.why}` : 'other'
 *
 * @since 0.1.0
 */
export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST'
  constructor(
    readonly key: string,
    readonly why: 'refused' | 'expired',
    readonly lastError?: LockError
  ) {
    super(
      why === 'refused'
        ? `Lease on ${key} was lost: the store no longer holds our token`
        : `Lease on ${key} can no longer be proven valid: it expired before a renewal succeeded`
    )
    this.name = 'LeaseLostError'
  }
}

/**
 * A running keeper: `signal` aborts with a {@link LeaseLostError}; `current()`
 * is the latest lease; `stop()` ends renewal, waits for any renewal in flight,
 * and resolves with the lease to release.
 *
 * @example
 * import { KeepAlive } from 'leaselock'
 * const lost = (keeper: KeepAlive): boolean => keeper.signal.aborted
 *
 * @since 0.1.0
 */
export interface KeepAlive<L extends Lease = Lease> {
  readonly signal: AbortSignal
  readonly current: () => L
  readonly stop: () => Promise<L>
}

/**
 * What a keeper needs from a lock (or from anything else that hands out
 * leases of type `L`, like a semaphore's permits).
 *
 * @example
 * import { Renewer, makeLock } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * const renewer: Renewer = makeLock(memoryStore())
 *
 * @since 0.1.0
 */
export interface Renewer<L extends Lease = Lease> {
  readonly env: Environment
  readonly extend: (lease: L, ttlMs: number) => TE.TaskEither<LockError, L>
  /** The lease as the store confirmed it (see `Lock.confirm`); optional. */
  readonly confirm?: (lease: L) => TE.TaskEither<LockError, L>
  /** Calls `onExtended` with every lease an extend of this lease's key and token answers, until the returned function is called; optional. */
  readonly watch?: (lease: L, onExtended: (lease: L) => void) => () => void
}

/** The keeper's answer when a lease's validity ran out before a request came back. */
const EXPIRED = Symbol('expired')

/**
 * Starts keeping `lease` alive: it is extended to its full TTL each time
 * `renewFraction` of its validity has passed; a failed renewal is retried
 * while the lease is still valid. A lease answered before its handover claim
 * came back is first confirmed (`lock.confirm`). The signal fires the moment
 * the lease can no longer be proven valid, even while a renewal is in flight.
 * An extend of the same lease by its holder (through the same lock) is
 * adopted: renewals then use its TTL, so they never cut it short.
 *
 * @example
 * import { makeLock, keepAlive } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const lock = makeLock(memoryStore())
 * const acquired = await lock.acquire('report', 1_000, 0)()
 * if (acquired._tag === 'Right') {
 *   const keeper = keepAlive(lock, acquired.right)
 *   // ... long work that checks keeper.signal.aborted ...
 *   await lock.release(await keeper.stop())()
 * }
 *
 * @since 0.1.0
 */
export const keepAlive = <L extends Lease>(lock: Renewer<L>, lease: L, options: KeepAliveOptions = {}): KeepAlive<L> => {
  const { clock } = lock.env
  const autoRenew = options.autoRenew ?? true
  const fraction = options.renewFraction !== undefined && options.renewFraction > 0 && options.renewFraction < 1 ? options.renewFraction : 1 / 3
  const lost = new AbortController()
  const stopped = new AbortController()
  let current = lease

  /**
   * The store keeps the TTL of the extend it processed last, which is the one
   * sent last (one connection, in order): the lease of the latest request is
   * the one that holds, be it a renewal or the holder's own extend.
   */
  const adoptIfLater = (l: L): void => {
    // `lease` itself comes back only from a confirmation with nothing to confirm: no news.
    if (l !== lease && l.acquiredAt >= current.acquiredAt) current = l
  }
  const unwatch = lock.watch?.(lease, adoptIfLater) ?? ((): void => undefined)

  const renewDue = (l: L): number => l.acquiredAt + (l.validUntil - l.acquiredAt) * fraction
  const lose = (why: LeaseLostError['why'], lastError?: LockError): void => {
    publish(channels.lost, () => ({ key: current.key, fence: current.fence, why }))
    lost.abort(new LeaseLostError(current.key, why, lastError))
  }
  const expired = (lastError?: LockError): void => lose('expired', lastError)

  /** `request`'s answer, or `EXPIRED` the moment the current lease's validity runs out first. */
  const untilExpiry = async <A>(request: Promise<A>): Promise<A | typeof EXPIRED> => {
    const done = new AbortController()
    const timer = clock.sleep(current.validUntil - clock.now(), done.signal).then((): typeof EXPIRED => EXPIRED)
    const first = await Promise.race<A | typeof EXPIRED>([request, timer])
    done.abort()
    return first
  }

  /**
   * Sends `request` (an extend or a confirmation) and adopts the lease it
   * answers. If the lease expires first, the signal fires then, and the late
   * answer is still adopted (so `stop()` releases the latest revision).
   */
  const adopt = async (request: Promise<E.Either<LockError, L>>): Promise<E.Either<LockError, L> | typeof EXPIRED> => {
    const answer = await untilExpiry(request)
    if (answer !== EXPIRED) {
      if (E.isRight(answer)) adoptIfLater(answer.right)
      return answer
    }
    expired()
    const late = await request
    if (E.isRight(late)) adoptIfLater(late.right)
    return EXPIRED
  }

  const run = async (): Promise<void> => {
    let lastError: LockError | undefined
    if (lock.confirm !== undefined) {
      const confirmed = await adopt(lock.confirm(current)())
      if (confirmed === EXPIRED) return
      if (E.isLeft(confirmed)) {
        if (confirmed.left._tag === 'NotHeld') return lose('refused', confirmed.left)
        lastError = confirmed.left
      }
    }
    if (clock.now() >= current.validUntil) return expired(lastError)
    let nextRenewal = autoRenew ? renewDue(current) : Infinity
    while (!stopped.signal.aborted) {
      const now = clock.now()
      if (now >= current.validUntil) return expired(lastError)
      await clock.sleep(Math.min(nextRenewal, current.validUntil) - now, stopped.signal)
      if (stopped.signal.aborted) return
      if (clock.now() >= current.validUntil) return expired(lastError)
      if (clock.now() < nextRenewal) continue
      const renewed = await adopt(lock.extend(current, current.ttlMs)())
      if (renewed === EXPIRED) return
      if (E.isRight(renewed)) {
        lastError = undefined
        nextRenewal = renewDue(current)
      } else if (renewed.left._tag === 'NotHeld') {
        return lose('refused', renewed.left)
      } else {
        lastError = renewed.left
        const after = clock.now()
        nextRenewal = after + Math.max(1, (current.validUntil - after) / 3)
      }
    }
  }
  const running = run().finally(unwatch)

  return {
    signal: lost.signal,
    current: () => current,
    stop: () => {
      stopped.abort()
      return running.then(() => current)
    }
  }
}

/**
 * Runs `use` with `lease` under a keeper (see {@link keepAlive}), then stops
 * renewal and releases the latest lease: `use`'s own error wins over the
 * release's; a throw or rejection in `use` is re-thrown after the release.
 * The `with…` helpers of locks, semaphores and read-write locks all end here.
 *
 * @example
 * import { makeLock, useKept } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 *
 * const lock = makeLock(memoryStore())
 * const acquired = await lock.acquire('report', 1_000, 0)()
 * assert.ok(acquired._tag === 'Right')
 * const result = await useKept(lock, lock.release, acquired.right, {}, (lease) => TE.right(lease.fence))
 * assert.ok(result._tag === 'Right')
 *
 * @since 0.4.0
 */
export const useKept = async <L extends Lease, E, A>(
  renewer: Renewer<L>,
  release: (lease: L) => TE.TaskEither<LockError, void>,
  lease: L,
  options: KeepAliveOptions,
  use: (lease: L, signal: AbortSignal) => TE.TaskEither<E, A>
): Promise<E.Either<E | LockError, A>> => {
  const keeper = keepAlive(renewer, lease, options)
  const releaseLast = (): Promise<E.Either<LockError, void>> => keeper.stop().then((last) => release(last)())
  let outcome: E.Either<E, A>
  try {
    outcome = await use(lease, keeper.signal)()
  } catch (thrown) {
    await releaseLast()
    throw thrown
  }
  const released = await releaseLast()
  return E.isLeft(outcome) || E.isRight(released) ? outcome : released
}
