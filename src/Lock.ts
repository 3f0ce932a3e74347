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
import { Progress, runTries } from './AcquireLoop.js'
import { makeClaims } from './Claims.js'
import { AcquireEvent, LeaseEvent, channels, publish, trace } from './Diagnostics.js'
import { Environment, liveEnvironment } from './Environment.js'
import { Lease, fromGrant } from './Lease.js'
import { LockError, TimeoutHolder, aborted, code, notHeld, timeout } from './LockError.js'
import { KeepAliveOptions, useKept } from './KeepAlive.js'
import { makeLocalLines } from './LocalLine.js'
import { queuedTries } from './QueuedWait.js'
import { RetryPolicy, defaultRetryPolicy } from './RetryPolicy.js'
import type { Store } from './Store.js'
import { Tries, TryResult, leaseOf } from './Tries.js'
import { checkKey, checkLease, checkTtl, firstLeft, validateTimeout } from './validate.js'

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
  /**
   * Answer a key handed over by a wait queue only once its claim to the full
   * TTL came back (one more round trip), instead of at once with the claim
   * TTL's validity (the default; see {@link Lock.confirm}).
   */
  readonly confirmed?: boolean
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
  /**
   * Resets our lease's TTL to `ttlMs`; `NotHeld` if it is no longer ours. The
   * lease answered carries the fence the store answered for the key as it
   * stands: the same fence, unless the key lapsed and a late or repeated
   * acquire of this token took it again (then a larger one; on Memcached each
   * extend's new CAS, see `memcachedStore`).
   */
  readonly extend: (lease: Lease, ttlMs: number) => TE.TaskEither<LockError, Lease>
  /**
   * A lease answered at once from a handover is provable only for the claim
   * TTL while its claim (an extend to its TTL) runs: `confirm` waits for that
   * claim and answers the lease with the validity the store confirmed, or
   * `NotHeld` if the handover lapsed before the claim landed. Any other lease
   * is answered as it is.
   */
  readonly confirm: (lease: Lease) => TE.TaskEither<LockError, Lease>
  /**
   * Calls `onExtended` with the lease every successful `extend` of this
   * lease's key and token answers, until the returned function is called (a
   * keeper uses it to follow its holder's own extends).
   */
  readonly watch: (lease: Lease, onExtended: (lease: Lease) => void) => () => void
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

const resolved = <A>(a: A): Promise<A> => Promise.resolve(a)
const done: E.Either<LockError, void> = E.right(undefined)

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

  const claims = makeClaims(clock)
  const lines = makeLocalLines(clock)
  const watchers = new Map<string, Set<(lease: Lease) => void>>()
  const watchId = (lease: Lease): string => `${lease.token}\u0000${lease.key}`

  const watch: Lock['watch'] = (lease, onExtended) => {
    const id = watchId(lease)
    const set = watchers.get(id) ?? new Set()
    set.add(onExtended)
    watchers.set(id, set)
    return () => {
      set.delete(onExtended)
      if (set.size === 0 && watchers.get(id) === set) watchers.delete(id)
    }
  }

  /**
   * An attempt whose outcome is unknown (its reply was lost or late) may have
   * taken the key: release it by its token, in the background, rather than
   * leave it held until its TTL. The token is this attempt's own, so nobody
   * else's lock can be touched.
   */
  const giveBack = (key: string, token: string, reason: 'unknown' | 'spent', revision = ''): void => {
    publish(channels.giveback, () => ({ key, backend: store.name, reason }))
    void store.release({ key, token, revision })()
  }

  /** One plain acquire with a fresh token; a grant spent on arrival is given back and answered as `none`. */
  const attempt = async (key: string, ttlMs: number): Promise<TryResult> => {
    const token = env.token()
    const sentAt = clock.now()
    const reply = await store.acquire(key, token, ttlMs)()
    if (E.isLeft(reply)) {
      if (reply.left._tag === 'DriverFailure' && reply.left.indeterminate) giveBack(key, token, 'unknown')
      return reply
    }
    if (O.isNone(reply.right)) return reply as E.Either<never, O.Option<never>>
    const lease = leaseOf(key, token, ttlMs, sentAt, reply.right.value, clock.now())
    if (O.isNone(lease)) giveBack(key, token, 'spent', reply.right.value.revision)
    return E.right(lease)
  }

  const leaseEvent = (operation: LeaseEvent['operation'], lease: Lease) => (): LeaseEvent => ({ key: lease.key, backend: store.name, operation, fence: lease.fence })
  const completed =
    (success: string) =>
    (event: LeaseEvent, r: E.Either<LockError, unknown>): void => {
      event.outcome = E.isLeft(r) ? code(r.left) : success
      if (E.isLeft(r)) event.error = r.left
    }

  const release = (lease: Lease): TE.TaskEither<LockError, void> => () => {
    const valid = checkLease(store, lease)
    if (E.isLeft(valid)) return resolved(valid)
    return trace(
      channels.release,
      leaseEvent('release', lease),
      () => claims.after(lease, store.release(valid.right)).then((r) => (E.isLeft(r) ? r : r.right ? done : E.left(notHeld(lease.key)))),
      completed('released')
    )
  }

  /** Plain polling: every attempt is a fresh `acquire` with a fresh token; waiting is sleeping. */
  const pollingTries = (key: string, ttlMs: number): Tries => ({
    first: () => attempt(key, ttlMs),
    next: () => attempt(key, ttlMs),
    wait: (ms, signal) => clock.sleep(ms, signal).then(() => E.right(O.none)),
    abandon: () => Promise.resolve()
  })

  /** What the store can tell of a key a wait gave up on (one read, for the Timeout's message), if it can be inspected. */
  const holderOf = async (key: string): Promise<TimeoutHolder | undefined> => {
    if (store.inspect === undefined) return undefined
    const seen = await store.inspect(key)()
    if (E.isLeft(seen)) return undefined
    const { remainingMs, waiters } = seen.right
    return {
      ...(E.isRight(remainingMs) ? { remainingMs: remainingMs.right } : {}),
      ...(E.isRight(waiters) ? { waiters: waiters.right } : {})
    }
  }

  /**
   * Queued waiting, one waiter per key at a time: the others of this lock
   * wait their turn in memory (see `LocalLine`), so a process holds one place
   * in the store's queue per key. A waiter whose deadline passes before its
   * turn fails with a `Timeout` of 0 attempts, having sent nothing.
   */
  const queuedLoop = async (key: string, ttlMs: number, timeoutMs: number, opts: AcquireOptions, progress: Progress): Promise<E.Either<LockError, Lease>> => {
    const start = clock.now()
    const deadline = start + timeoutMs
    const turn = await lines.enter(key, deadline, opts.signal)
    if (turn === undefined)
      return E.left(opts.signal?.aborted === true ? aborted(key, opts.signal.reason) : timeout(key, 0, clock.now() - start))
    try {
      return await acquireLoop(key, ttlMs, deadline, opts, progress, start)
    } finally {
      turn.done()
    }
  }

  const loopContext = { clock, backend: store.name, release: (lease: Lease) => release(lease)(), holderOf }

  const acquireLoop = (
    key: string,
    ttlMs: number,
    deadline: number,
    opts: AcquireOptions,
    progress: Progress,
    start = clock.now()
  ): Promise<E.Either<LockError, Lease>> => {
    const tries =
      store.queue !== undefined && deadline > clock.now()
        ? queuedTries({ env, store, queue: store.queue, claims }, key, ttlMs, deadline, { confirmed: opts.confirmed === true })
        : pollingTries(key, ttlMs)
    return runTries(loopContext, tries, key, deadline, { retry: opts.retry ?? policy, signal: opts.signal }, progress, start)
  }

  const acquire: Lock['acquire'] = (key, ttlMs, timeoutMs, opts = {}) => () => {
    const args = firstLeft(firstLeft(checkKey(store, key), checkTtl(store, ttlMs)), validateTimeout(timeoutMs))
    if (E.isLeft(args)) return resolved(args)
    const [[k, ttl], wait] = args.right
    const progress: Progress = { attempts: 0 }
    const start = clock.now()
    return trace(
      channels.acquire,
      (): AcquireEvent => ({ key: k, backend: store.name, operation: 'acquire', ttlMs: ttl }),
      () => (store.queue !== undefined && wait > 0 ? queuedLoop(k, ttl, wait, opts, progress) : acquireLoop(k, ttl, start + wait, opts, progress, start)),
      (event, r) => {
        event.attempts = progress.attempts
        event.waitedMs = clock.now() - start
        if (E.isLeft(r)) {
          event.outcome = code(r.left)
          event.error = r.left
        } else {
          event.outcome = 'acquired'
          event.fence = r.right.fence
        }
      }
    )
  }

  const tryAcquire: Lock['tryAcquire'] = (key, ttlMs) => () => {
    const args = firstLeft(checkKey(store, key), checkTtl(store, ttlMs))
    if (E.isLeft(args)) return resolved(args)
    const [k, ttl] = args.right
    return trace(
      channels.acquire,
      (): AcquireEvent => ({ key: k, backend: store.name, operation: 'tryAcquire', ttlMs: ttl, attempts: 1 }),
      () => attempt(k, ttl),
      (event, r) => {
        if (E.isLeft(r)) {
          event.outcome = code(r.left)
          event.error = r.left
        } else if (O.isSome(r.right)) {
          event.outcome = 'acquired'
          event.fence = r.right.value.fence
        } else event.outcome = 'held'
      }
    )
  }

  const extend: Lock['extend'] = (lease, ttlMs) => async () => {
    const args = firstLeft(checkLease(store, lease), checkTtl(store, ttlMs))
    if (E.isLeft(args)) return args
    const [held, ttl] = args.right
    return trace(
      channels.extend,
      leaseEvent('extend', held),
      () =>
        claims.after(held, async (): Promise<E.Either<LockError, Lease>> => {
          const sentAt = clock.now()
          const r = await store.extend(held, ttl)()
          if (E.isLeft(r)) return r
          if (O.isNone(r.right)) return E.left(notHeld(held.key))
          const extended = fromGrant(held.key, held.token, ttl, sentAt, r.right.value)
          watchers.get(watchId(extended))?.forEach((f) => f(extended))
          return E.right(extended)
        }),
      completed('extended')
    )
  }

  const confirm: Lock['confirm'] = (lease) => () => {
    const valid = checkLease(store, lease)
    return E.isLeft(valid) ? resolved(valid) : claims.settle(lease)
  }

  const lock: Lock = {
    store,
    env,
    tryAcquire,
    acquire,
    release,
    extend,
    confirm,
    watch,
    withLock: (key, ttlMs, opts, use) => async () => {
      const acquired = await acquire(key, ttlMs, opts.timeoutMs, opts)()
      return E.isLeft(acquired) ? acquired : useKept(lock, release, acquired.right, opts, use)
    }
  }
  return lock
}
