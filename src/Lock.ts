/**
 * The backend-neutral lock: acquire, tryAcquire, release, extend and withLock,
 * as `TaskEither`s over a {@link Store}, with time and randomness from an
 * injected {@link Environment}.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Environment, liveEnvironment } from './Environment.js'
import { Lease, fromGrant } from './Lease.js'
import { LockError, aborted, notHeld, timeout } from './LockError.js'
import { keepAlive, KeepAliveOptions } from './KeepAlive.js'
import { RetryPolicy, defaultRetryPolicy, defaultRetryStatus, nextRetryStatus } from './RetryPolicy.js'
import type { Grant, Store, WaitQueue } from './Store.js'
import { validateKey, validateTimeout, validateTtl } from './validate.js'

/**
 * @example
 * import { LockOptions, constantDelay } from 'leaselock'
 * const options: LockOptions = { retry: constantDelay(50) }
 *
 * @since 0.1.0
 */
export interface LockOptions {
  /** Time, randomness and tokens; {@link liveEnvironment} by default. */
  readonly env?: Environment
  /** How `acquire` waits between attempts; {@link defaultRetryPolicy} by default. */
  readonly retry?: RetryPolicy
}

/**
 * @example
 * import { AcquireOptions } from 'leaselock'
 * const options: AcquireOptions = { signal: AbortSignal.timeout(5_000) }
 *
 * @since 0.1.0
 */
export interface AcquireOptions {
  /** Overrides the lock's retry policy for this call. */
  readonly retry?: RetryPolicy
  /** Aborting stops waiting at once; a grant that arrives afterwards is released. */
  readonly signal?: AbortSignal
}

/**
 * @example
 * import { WithLockOptions } from 'leaselock'
 * const options: WithLockOptions = { timeoutMs: 1_000, renewFraction: 0.5 }
 *
 * @since 0.1.0
 */
export interface WithLockOptions extends AcquireOptions, KeepAliveOptions {
  /** How long to wait for the lock (0 = one attempt). */
  readonly timeoutMs: number
}

/**
 * A lock bound to a store. Every method checks its arguments before any I/O and
 * never rejects: failures are `Left<LockError>`.
 *
 * @example
 * import { Lock } from 'leaselock'
 * const holds = (lock: Lock, key: string) => lock.tryAcquire(key, 1_000)
 *
 * @since 0.1.0
 */
export interface Lock {
  readonly store: Store
  readonly env: Environment
  /** One attempt: `some(lease)` if the key was free, `none` if it is held. */
  readonly tryAcquire: (key: string, ttlMs: number) => TE.TaskEither<LockError, O.Option<Lease>>
  /** Retries until `timeoutMs` after the call (0 = exactly one attempt), then fails with `Timeout`. */
  readonly acquire: (
    key: string,
    ttlMs: number,
    timeoutMs: number,
    options?: AcquireOptions
  ) => TE.TaskEither<LockError, Lease>
  /** Releases our lease; `NotHeld` if it expired or another holder owns the key (which is left alone). */
  readonly release: (lease: Lease) => TE.TaskEither<LockError, void>
  /** Resets our lease's TTL to `ttlMs`; `NotHeld` if it is no longer ours. */
  readonly extend: (lease: Lease, ttlMs: number) => TE.TaskEither<LockError, Lease>
  /**
   * Acquires, runs `use` with the lease and an `AbortSignal` that fires if the
   * lease is lost, and always releases. `use`'s own error wins over a release
   * error; a throw or rejection in `use` is re-thrown after the release.
   */
  readonly withLock: <E, A>(
    key: string,
    ttlMs: number,
    options: WithLockOptions,
    use: (lease: Lease, signal: AbortSignal) => TE.TaskEither<E, A>
  ) => TE.TaskEither<E | LockError, A>
}

// The hot paths below (withLock included) use plain control flow over Either
// values rather than fp-ts's pipeable combinators: those allocate argument
// arrays on every call, which measured as half of the core's cost per
// acquire+release.

const checkKey = (store: Store, key: unknown): E.Either<LockError, string> => {
  const valid = validateKey(key)
  return E.isLeft(valid) ? valid : store.checkKey(valid.right)
}

const checkTtl = (store: Store, ttlMs: unknown): E.Either<LockError, number> => {
  const valid = validateTtl(ttlMs)
  return E.isLeft(valid) ? valid : store.checkTtl(valid.right)
}

const checkLease = (store: Store, lease: unknown): E.Either<LockError, Lease> => {
  const key = checkKey(store, (lease as Partial<Lease> | null | undefined)?.key)
  return E.isLeft(key) ? key : E.right(lease as Lease)
}

/** The first Left among checks, or the right values. */
const firstLeft = <A, B>(a: E.Either<LockError, A>, b: E.Either<LockError, B>): E.Either<LockError, readonly [A, B]> =>
  E.isLeft(a) ? a : E.isLeft(b) ? b : E.right([a.right, b.right] as const)

const resolved = <A>(a: A): Promise<A> => Promise.resolve(a)
const done: E.Either<LockError, void> = E.right(undefined)

/** Resolves with the task's result, or with `onAbort()` as soon as `signal` aborts. */
const raceAbort = <A>(promise: Promise<A>, signal: AbortSignal | undefined, onAbort: () => A): Promise<A> =>
  signal === undefined
    ? promise
    : new Promise<A>((resolve, reject) => {
        const abort = (): void => resolve(onAbort())
        if (signal.aborted) return abort()
        signal.addEventListener('abort', abort, { once: true })
        promise.then(
          (a) => {
            signal.removeEventListener('abort', abort)
            resolve(a)
          },
          (e: unknown) => {
            // Only a store that breaks the TaskEither contract rejects: pass it on, unhandled by nobody.
            signal.removeEventListener('abort', abort)
            reject(e)
          }
        )
      })

/** One acquisition's way of trying, waiting between tries, and giving up. */
interface Tries {
  readonly first: () => Promise<E.Either<LockError, O.Option<Lease>>>
  readonly next: () => Promise<E.Either<LockError, O.Option<Lease>>>
  /** Waits `ms`; answers `some(lease)` if the key was handed to us meanwhile. */
  readonly wait: (ms: number, signal: AbortSignal | undefined) => Promise<E.Either<LockError, O.Option<Lease>>>
  readonly abandon: () => Promise<void>
}

/**
 * Binds the lock operations to a store.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * import { pipe } from 'fp-ts/lib/function.js'
 *
 * const lock = makeLock(memoryStore())
 * const result = await pipe(
 *   lock.acquire('jobs:nightly', 30_000, 1_000),
 *   TE.chainFirst((lease) => lock.release(lease))
 * )()
 * assert.ok(result._tag === 'Right')
 *
 * @since 0.1.0
 */
export const makeLock = (store: Store, options: LockOptions = {}): Lock => {
  const env = options.env ?? liveEnvironment
  const { clock } = env
  const policy = options.retry ?? defaultRetryPolicy(env.random)

  /** Sends `run` and turns its grant into a lease whose validity counts from now, the send time. */
  const timed = async (
    key: string,
    token: string,
    ttlMs: number,
    run: TE.TaskEither<LockError, O.Option<Grant>>
  ): Promise<E.Either<LockError, O.Option<Lease>>> => {
    const sentAt = clock.now()
    const reply = await run()
    return E.isRight(reply) && O.isSome(reply.right)
      ? E.right(O.some(fromGrant(key, token, ttlMs, sentAt, reply.right.value)))
      : (reply as E.Either<LockError, O.Option<never>>)
  }

  /**
   * An attempt whose outcome is unknown (its reply was lost or late) may have
   * taken the key: release it by its token, in the background, rather than
   * leave it held until its TTL. The token is this attempt's own, so nobody
   * else's lock can be touched.
   */
  const giveBackIfUnknown =
    (key: string, token: string) =>
    (reply: E.Either<LockError, O.Option<Lease>>): E.Either<LockError, O.Option<Lease>> => {
      if (E.isLeft(reply) && reply.left._tag === 'DriverFailure' && reply.left.indeterminate)
        void store.release({ key, token, revision: '' })()
      return reply
    }

  const attempt = (key: string, ttlMs: number): Promise<E.Either<LockError, O.Option<Lease>>> => {
    const token = env.token()
    return timed(key, token, ttlMs, store.acquire(key, token, ttlMs)).then(giveBackIfUnknown(key, token))
  }

  /**
   * Leases answered before their handover claim was through: a later release
   * or extend of such a lease is sent only after the claim, so that the claim
   * (an extend to the TTL asked for) can never land after it and undo it.
   */
  const claims = new WeakMap<Lease, Promise<unknown>>()
  const afterClaim = <A>(lease: Lease, send: () => Promise<A>): Promise<A> => {
    const claim = claims.get(lease)
    return claim === undefined ? send() : claim.then(send)
  }

  const release = (lease: Lease): TE.TaskEither<LockError, void> => () => {
    const valid = checkLease(store, lease)
    if (E.isLeft(valid)) return resolved(valid)
    return afterClaim(lease, store.release(valid.right)).then((r) => (E.isLeft(r) ? r : r.right ? done : E.left(notHeld(lease.key))))
  }

  const releaseIfGranted = (r: E.Either<LockError, O.Option<Lease>>): Promise<unknown> =>
    E.isRight(r) && O.isSome(r.right) ? release(r.right.value)() : Promise.resolve()

  /** Plain polling: every attempt is a fresh `acquire` with a fresh token; waiting is sleeping. */
  const pollingTries = (key: string, ttlMs: number): Tries => ({
    first: () => attempt(key, ttlMs),
    next: () => attempt(key, ttlMs),
    wait: (ms, signal) => clock.sleep(ms, signal).then(() => E.right(O.none)),
    abandon: () => Promise.resolve()
  })

  /**
   * Queued waiting: join the key's FIFO queue once, wait to be handed the key,
   * and poll on the retry policy's cadence in case a notification was lost or
   * the holder expired.
   *
   * A handover sets the key to our token with a short claim TTL at some moment
   * after our latest request that found the key held (the "proof"), so the key
   * is provably ours until `proof + min(claim TTL, TTL)`. When that leaves at
   * least half of it, the lease is answered at once and the claim (an extend to
   * the full TTL) runs in the background: the handover costs no round trip. A
   * late handover is claimed before answering; one whose claim lapsed joins
   * the queue again at its end.
   */
  const queuedTries = (queue: WaitQueue, key: string, ttlMs: number, deadline: number): Tries => {
    const token = env.token()
    let proof = clock.now()
    /** Sends a try; a `none` answer proves the key was held after `sentAt`. */
    const tried = (run: TE.TaskEither<LockError, O.Option<Grant>>): Promise<E.Either<LockError, O.Option<Lease>>> => {
      const sentAt = clock.now()
      return timed(key, token, ttlMs, run).then((r) => {
        if (E.isRight(r) && O.isNone(r.right)) proof = sentAt
        return giveBackIfUnknown(key, token)(r)
      })
    }
    const join = (): Promise<E.Either<LockError, O.Option<Lease>>> =>
      tried(queue.acquireOrEnqueue(key, token, ttlMs, Math.max(1, deadline - clock.now())))
    return {
      first: join,
      next: () => tried(queue.poll(key, token, ttlMs)),
      wait: async (ms, signal) => {
        const handed = await queue.awaitHandoff(key, token, ms, signal)
        if (O.isNone(handed)) return E.right(O.none)
        const held = { key, token, revision: handed.value.revision }
        // Until the claim lands the key lives for the claim TTL; after it, for our TTL: the shorter holds.
        const provable = Math.min(handed.value.validityMs, ttlMs)
        const early = fromGrant(key, token, ttlMs, proof, { ...handed.value, validityMs: provable })
        if (early.validUntil - clock.now() >= provable / 2) {
          claims.set(early, store.extend(held, ttlMs)().catch(() => undefined))
          return E.right(O.some(early))
        }
        const claimed = await timed(key, token, ttlMs, store.extend(held, ttlMs))
        if (E.isLeft(claimed)) return claimed
        return O.isSome(claimed.right) ? E.right(O.some({ ...claimed.right.value, fence: handed.value.fence })) : join()
      },
      abandon: () => queue.leave(key, token)().then(() => undefined)
    }
  }

  const acquireLoop = async (
    key: string,
    ttlMs: number,
    timeoutMs: number,
    retry: RetryPolicy,
    signal: AbortSignal | undefined
  ): Promise<E.Either<LockError, Lease>> => {
    const deadline = clock.now() + timeoutMs
    const tries = store.queue !== undefined && timeoutMs > 0 ? queuedTries(store.queue, key, ttlMs, deadline) : pollingTries(key, ttlMs)
    /** Runs a step unless `signal` aborts first; a lease that lands after the abort is released. */
    const step = (run: () => Promise<E.Either<LockError, O.Option<Lease>>>): Promise<E.Either<LockError, O.Option<Lease>>> => {
      if (signal?.aborted === true) return Promise.resolve(E.left(aborted(key, signal.reason)))
      const inFlight = run()
      return raceAbort(inFlight, signal, () => {
        void inFlight.then(releaseIfGranted)
        return E.left(aborted(key, signal?.reason))
      })
    }
    let status = defaultRetryStatus
    let attempts = 1
    let result = await step(tries.first)
    for (;;) {
      if (E.isLeft(result)) {
        // A failing store would fail (or time out on) the leave as well: send it, but answer now.
        const leaving = tries.abandon()
        if (result.left._tag !== 'DriverFailure') await leaving
        return result
      }
      if (O.isSome(result.right)) return E.right(result.right.value)
      const remaining = deadline - clock.now()
      const next = retry(status)
      if (remaining <= 0 || O.isNone(next)) {
        await tries.abandon()
        return E.left(timeout(key, attempts))
      }
      const delay = Math.min(Math.max(0, next.value), remaining)
      status = nextRetryStatus(status, delay)
      result = await step(() => tries.wait(delay, signal))
      if (E.isRight(result) && O.isNone(result.right)) {
        attempts++
        result = await step(tries.next)
      }
    }
  }

  const acquire: Lock['acquire'] = (key, ttlMs, timeoutMs, opts = {}) => () => {
    const args = firstLeft(firstLeft(checkKey(store, key), checkTtl(store, ttlMs)), validateTimeout(timeoutMs))
    if (E.isLeft(args)) return resolved(args)
    const [[k, ttl], wait] = args.right
    return acquireLoop(k, ttl, wait, opts.retry ?? policy, opts.signal)
  }

  const tryAcquire: Lock['tryAcquire'] = (key, ttlMs) => () => {
    const args = firstLeft(checkKey(store, key), checkTtl(store, ttlMs))
    return E.isLeft(args) ? resolved(args) : attempt(args.right[0], args.right[1])
  }

  const extend: Lock['extend'] = (lease, ttlMs) => async () => {
    const args = firstLeft(checkLease(store, lease), checkTtl(store, ttlMs))
    if (E.isLeft(args)) return args
    const [held, ttl] = args.right
    const renewed = await afterClaim(held, () => timed(held.key, held.token, ttl, store.extend(held, ttl)))
    if (E.isLeft(renewed)) return renewed
    return O.isSome(renewed.right) ? E.right({ ...renewed.right.value, fence: held.fence }) : E.left(notHeld(held.key))
  }

  /** Runs `use` under a keeper, then stops renewal and releases: `use`'s error first, then the release's. */
  const useThenRelease = async <E, A>(
    lease: Lease,
    opts: KeepAliveOptions,
    use: (lease: Lease, signal: AbortSignal) => TE.TaskEither<E, A>
  ): Promise<E.Either<E | LockError, A>> => {
    const keeper = keepAlive(lock, lease, opts)
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

  const lock: Lock = {
    store,
    env,
    tryAcquire,
    acquire,
    release,
    extend,
    withLock: (key, ttlMs, opts, use) => async () => {
      const acquired = await acquire(key, ttlMs, opts.timeoutMs, opts)()
      return E.isLeft(acquired) ? acquired : useThenRelease(acquired.right, opts, use)
    }
  }
  return lock
}
