/**
 * Weighted permits as leases: the engine semaphores and read-write locks
 * share. It checks every argument before any I/O, waits with the lock's
 * acquire loop and retry policies, and keeps permits alive with the lock's
 * keeper; it never rejects.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Progress, runTries } from '../AcquireLoop.js'
import { channels, publish } from '../Diagnostics.js'
import { Environment, liveEnvironment } from '../Environment.js'
import { KeepAliveOptions, useKept } from '../KeepAlive.js'
import { Lease, fromGrant } from '../Lease.js'
import { LockError, invalidArgument, notHeld } from '../LockError.js'
import { RetryPolicy, capDelay, defaultRetryPolicy } from '../RetryPolicy.js'
import { Tries, TryResult, leaseOf } from '../Tries.js'
import { checkKey, checkLease, checkTtl, firstLeft, validateTimeout } from '../validate.js'
import type { PermitStore } from './PermitStore.js'

/**
 * A permit: a lease on a share of a key's capacity. Its fence is strictly
 * greater than every earlier permit's on the key, whatever their kind.
 *
 * @example
 * import { Permit } from 'leaselock'
 * const isWriter = (p: Permit): boolean => p.weight === p.limit
 *
 * @since 0.4.0
 */
export interface Permit extends Lease {
  /** The share of the capacity it takes. */
  readonly weight: number
  /** The capacity it was asked under. */
  readonly limit: number
}

/**
 * The largest `limit` a call may give (and the capacity of a read-write lock,
 * whose writer takes all of it): 2^31 − 1.
 *
 * @example
 * import { MAX_PERMITS } from 'leaselock'
 * assert.strictEqual(MAX_PERMITS, 2_147_483_647)
 *
 * @since 0.4.0
 */
export const MAX_PERMITS = 2_147_483_647

/**
 * A limit is a whole number of permits in 1..{@link MAX_PERMITS}.
 *
 * @example
 * import { validateLimit } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(validateLimit(3)))
 * assert.ok(E.isLeft(validateLimit(0)))
 * assert.ok(E.isLeft(validateLimit(2.5)))
 *
 * @since 0.4.0
 */
export const validateLimit = (limit: unknown): E.Either<LockError, number> =>
  typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 1 && limit <= MAX_PERMITS
    ? E.right(limit)
    : E.left(invalidArgument(`limit must be a whole number of permits in 1..${MAX_PERMITS}, got ${typeof limit === 'number' ? String(limit) : typeof limit}`))

/**
 * @example
 * import { PermitsOptions, constantDelay } from 'leaselock'
 * const options: PermitsOptions = { retry: constantDelay(20) }
 *
 * @since 0.4.0
 */
export interface PermitsOptions {
  /** Time, randomness and tokens; `liveEnvironment` by default. */
  readonly env?: Environment
  /** How a waiting acquisition polls; the default policy by default (see below for its cap). */
  readonly retry?: RetryPolicy
}

/**
 * @example
 * import { PermitAcquireOptions } from 'leaselock'
 * const options: PermitAcquireOptions = { signal: AbortSignal.timeout(5_000) }
 *
 * @since 0.4.0
 */
export interface PermitAcquireOptions {
  /** Overrides the retry policy for this call. */
  readonly retry?: RetryPolicy
  /** Aborting stops waiting at once (`Aborted`); a permit granted afterwards is released. */
  readonly signal?: AbortSignal
}

/**
 * @example
 * import { WithPermitOptions } from 'leaselock'
 * const options: WithPermitOptions = { timeoutMs: 1_000, renewFraction: 0.5 }
 *
 * @since 0.4.0
 */
export interface WithPermitOptions extends PermitAcquireOptions, KeepAliveOptions {
  /** How long to wait for the permit (0 = one attempt). */
  readonly timeoutMs: number
}

/**
 * What `use` gets in a `with…` helper: the permit, and a signal that fires
 * (with a `LeaseLostError`) the moment the permit can no longer be proven held.
 *
 * @example
 * import { UsePermit } from 'leaselock'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * const fenceOf: UsePermit<never, bigint> = (permit) => TE.right(permit.fence)
 *
 * @since 0.4.0
 */
export type UsePermit<E, A> = (permit: Permit, signal: AbortSignal) => TE.TaskEither<E, A>

/**
 * The engine: every operation takes the weight and the limit explicitly.
 *
 * @example
 * import { Permits } from 'leaselock'
 * const one = (permits: Permits) => permits.tryAcquire('api', 1, 3, 1_000)
 *
 * @since 0.4.0
 */
export interface Permits {
  readonly store: PermitStore
  readonly env: Environment
  readonly tryAcquire: (key: string, weight: number, limit: number, ttlMs: number) => TE.TaskEither<LockError, O.Option<Permit>>
  readonly acquire: (
    key: string,
    weight: number,
    limit: number,
    ttlMs: number,
    timeoutMs: number,
    options?: PermitAcquireOptions
  ) => TE.TaskEither<LockError, Permit>
  readonly release: (permit: Permit) => TE.TaskEither<LockError, void>
  readonly extend: (permit: Permit, ttlMs: number) => TE.TaskEither<LockError, Permit>
  readonly withPermit: <E, A>(
    key: string,
    weight: number,
    limit: number,
    ttlMs: number,
    options: WithPermitOptions,
    use: UsePermit<E, A>
  ) => TE.TaskEither<E | LockError, A>
}

/** The weight must be a whole number in 1..limit (checked after the limit). */
const checkWeight = (weight: unknown, limit: number): E.Either<LockError, number> =>
  typeof weight === 'number' && Number.isSafeInteger(weight) && weight >= 1 && weight <= limit
    ? E.right(weight)
    : E.left(invalidArgument(`weight must be a whole number in 1..limit (${limit}), got ${String(weight)}`))

const resolved = <A>(a: A): Promise<A> => Promise.resolve(a)

/**
 * Binds the permit operations to a store. A waiting `acquire` keeps its place
 * in the key's FIFO queue by asking again on the retry policy's cadence,
 * capped at a third of the TTL (a queue entry lives at most a TTL from the
 * latest request, so a live waiter never drops out between two requests),
 * and at once when the store wakes the key's waiters (`PermitStore.wakeups`);
 * when it gives up, times out or is aborted, it leaves the queue. A request
 * whose outcome is unknown (a lost reply) is given back by its token.
 *
 * @example
 * import { makePermits } from 'leaselock'
 * import { memoryPermitStore } from 'leaselock/memory'
 *
 * const permits = makePermits(memoryPermitStore())
 * const a = await permits.acquire('api', 1, 2, 1_000, 0)()
 * const b = await permits.acquire('api', 1, 2, 1_000, 0)()
 * const c = await permits.tryAcquire('api', 1, 2, 1_000)()
 * assert.ok(a._tag === 'Right' && b._tag === 'Right')
 * assert.ok(c._tag === 'Right' && c.right._tag === 'None')
 *
 * @since 0.4.0
 */
export const makePermits = (store: PermitStore, options: PermitsOptions = {}): Permits => {
  const env = options.env ?? liveEnvironment
  const { clock } = env
  const policy = options.retry ?? defaultRetryPolicy(env.random)

  const giveBack = (key: string, token: string, reason: 'unknown' | 'spent'): void => {
    publish(channels.giveback, () => ({ key, backend: store.name, reason }))
    void store.release({ key, token, revision: '' })()
  }

  const release: Permits['release'] = (permit) => () => {
    const valid = checkLease<Permit>(store, permit)
    if (E.isLeft(valid)) return resolved(valid)
    return store
      .release(valid.right)()
      .then((r): E.Either<LockError, void> => (E.isLeft(r) ? r : r.right ? E.right(undefined) : E.left(notHeld(permit.key))))
  }

  const extend: Permits['extend'] = (permit, ttlMs) => async () => {
    const args = firstLeft(checkLease<Permit>(store, permit), checkTtl(store, ttlMs))
    if (E.isLeft(args)) return args
    const [held, ttl] = args.right
    const sentAt = clock.now()
    const r = await store.extend(held, ttl)()
    if (E.isLeft(r)) return r
    if (O.isNone(r.right)) return E.left(notHeld(held.key))
    return E.right({ ...fromGrant(held.key, held.token, ttl, sentAt, r.right.value), weight: held.weight, limit: held.limit })
  }

  /** Tries for one acquisition: each sends the same request (keeping its queue place while `deadline` is ahead). */
  const permitTries = (key: string, weight: number, limit: number, ttlMs: number, deadline: number): Tries<Permit> => {
    let token = env.token()
    let queued = false
    /** Wake-ups of the key seen before the latest request was sent: a later one means ask again. */
    let woken = 0
    const send = async (): Promise<TryResult<Permit>> => {
      woken = store.wakeups?.seen(key) ?? 0
      const sentAt = clock.now()
      const waitMs = Math.max(0, Math.ceil(deadline - sentAt))
      queued ||= waitMs > 0
      const sent = token
      const reply = await store.acquire({ key, token: sent, weight, limit, ttlMs, waitMs })()
      if (E.isLeft(reply)) {
        if (!queued && reply.left._tag === 'DriverFailure' && reply.left.indeterminate) giveBack(key, sent, 'unknown')
        return reply
      }
      if (O.isNone(reply.right)) return E.right(O.none)
      const lease = leaseOf(key, sent, ttlMs, sentAt, reply.right.value, clock.now())
      if (O.isNone(lease)) {
        giveBack(key, sent, 'spent')
        // The give-back may land late: a later grant must not carry the token it removes.
        token = env.token()
        return E.right(O.none)
      }
      return E.right(O.some({ ...lease.value, weight, limit }))
    }
    return {
      first: send,
      next: send,
      wait: (ms, signal) =>
        (queued && store.wakeups !== undefined ? store.wakeups.wait(key, woken, ms, signal) : clock.sleep(ms, signal)).then(() => E.right(O.none)),
      abandon: () => (queued ? store.release({ key, token, revision: '' })().then(() => undefined) : resolved(undefined))
    }
  }

  const checkRequest = (key: unknown, weight: unknown, limit: unknown, ttlMs: unknown) => {
    const keyTtl = firstLeft(checkKey(store, key), checkTtl(store, ttlMs))
    if (E.isLeft(keyTtl)) return keyTtl
    const valid = validateLimit(limit)
    if (E.isLeft(valid)) return valid
    const w = checkWeight(weight, valid.right)
    return E.isLeft(w) ? w : E.right({ key: keyTtl.right[0], ttl: keyTtl.right[1], limit: valid.right, weight: w.right })
  }

  const loopContext = {
    clock,
    backend: store.name,
    release: (permit: Permit) => release(permit)(),
    holderOf: () => resolved(undefined)
  }

  const acquire: Permits['acquire'] = (key, weight, limit, ttlMs, timeoutMs, opts = {}) => () => {
    const request = checkRequest(key, weight, limit, ttlMs)
    if (E.isLeft(request)) return resolved(request)
    const wait = validateTimeout(timeoutMs)
    if (E.isLeft(wait)) return resolved(wait)
    const { ttl } = request.right
    const start = clock.now()
    const deadline = start + wait.right
    const tries = permitTries(request.right.key, request.right.weight, request.right.limit, ttl, deadline)
    const retry = capDelay(Math.max(1, Math.floor(ttl / 3)))(opts.retry ?? policy)
    const progress: Progress = { attempts: 0 }
    return runTries(loopContext, tries, request.right.key, deadline, { retry, signal: opts.signal }, progress, start)
  }

  const tryAcquire: Permits['tryAcquire'] = (key, weight, limit, ttlMs) => () => {
    const request = checkRequest(key, weight, limit, ttlMs)
    if (E.isLeft(request)) return resolved(request)
    return permitTries(request.right.key, request.right.weight, request.right.limit, request.right.ttl, clock.now()).first()
  }

  const permits: Permits = {
    store,
    env,
    tryAcquire,
    acquire,
    release,
    extend,
    withPermit: (key, weight, limit, ttlMs, opts, use) => async () => {
      const acquired = await acquire(key, weight, limit, ttlMs, opts.timeoutMs, opts)()
      return E.isLeft(acquired) ? acquired : useKept(permits, release, acquired.right, opts, use)
    }
  }
  return permits
}
