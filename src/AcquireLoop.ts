/**
 * The acquire loop every waiting primitive shares (locks, semaphores,
 * read-write locks): try, wait on the retry policy, try again until the
 * deadline, stop at once on an abort, and give up leaving nothing behind.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type { Clock } from './Clock.js'
import { channels, publish } from './Diagnostics.js'
import type { Lease } from './Lease.js'
import { LockError, TimeoutHolder, aborted, timeout } from './LockError.js'
import { RetryPolicy, defaultRetryStatus, nextRetryStatus } from './RetryPolicy.js'
import type { Tries, TryResult } from './Tries.js'

/**
 * What the loop needs from the primitive that runs it.
 *
 * @example
 * import { LoopContext, realClock } from 'leaselock'
 * const context: LoopContext = { clock: realClock, backend: 'memory', release: async () => undefined, holderOf: async () => undefined }
 *
 * @since 0.4.0
 */
export interface LoopContext<L extends Lease = Lease> {
  readonly clock: Clock
  /** The store's name, for diagnostics events. */
  readonly backend: string
  /** Releases a lease that arrived after the caller aborted. */
  readonly release: (lease: L) => Promise<unknown>
  /** What the store can tell of a key the loop gave up on, for the `Timeout`; `undefined` if nothing. */
  readonly holderOf: (key: string) => Promise<TimeoutHolder | undefined>
}

/**
 * How many requests an acquisition sent, for its `Timeout` and its trace.
 *
 * @example
 * import { Progress } from 'leaselock'
 * const progress: Progress = { attempts: 0 }
 *
 * @since 0.4.0
 */
export interface Progress {
  attempts: number
}

/**
 * @example
 * import { LoopOptions, constantDelay } from 'leaselock'
 * const options: LoopOptions = { retry: constantDelay(50), signal: AbortSignal.timeout(1_000) }
 *
 * @since 0.4.0
 */
export interface LoopOptions {
  readonly retry: RetryPolicy
  readonly signal?: AbortSignal | undefined
}

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

/**
 * Drives `tries` for `key` until one answers a lease, one fails, the retry
 * policy stops or `deadline` (a clock reading) passes (`Timeout`, with the
 * attempts made and the time waited since `start`), or `signal` aborts
 * (`Aborted`, at once). After an abort the step in flight goes on in the
 * background: a lease it brings is released, and only then (with nothing in
 * flight) are the tries abandoned. A failure abandons the tries too (awaited,
 * except after a `DriverFailure`: a failing store would fail the leave as well).
 *
 * @example
 * import { runTries, realClock, constantDelay } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 *
 * const never = { first: async () => E.right(O.none), next: async () => E.right(O.none), wait: async () => E.right(O.none), abandon: async () => undefined }
 * const context = { clock: realClock, backend: 'memory', release: async () => undefined, holderOf: async () => undefined }
 * const start = realClock.now()
 * const r = await runTries(context, never, 'k', start + 20, { retry: constantDelay(5) }, { attempts: 0 }, start)
 * assert.ok(r._tag === 'Left' && r.left._tag === 'Timeout')
 *
 * @since 0.4.0
 */
export const runTries = async <L extends Lease>(
  context: LoopContext<L>,
  tries: Tries<L>,
  key: string,
  deadline: number,
  options: LoopOptions,
  progress: Progress,
  start: number
): Promise<E.Either<LockError, L>> => {
  const { clock } = context
  const { signal, retry } = options
  const step = (run: () => Promise<TryResult<L>>): Promise<TryResult<L>> => {
    if (signal?.aborted === true) {
      void tries.abandon()
      return Promise.resolve(E.left(aborted(key, signal.reason)))
    }
    const inFlight = run()
    return raceAbort(inFlight, signal, () => {
      void inFlight.then((r): Promise<unknown> => {
        if (!(E.isRight(r) && O.isSome(r.right))) return tries.abandon()
        publish(channels.giveback, () => ({ key, backend: context.backend, reason: 'aborted' }))
        return context.release(r.right.value)
      })
      return E.left(aborted(key, signal?.reason))
    })
  }
  let status = defaultRetryStatus
  progress.attempts = 1
  let result = await step(tries.first)
  for (;;) {
    if (E.isLeft(result)) {
      if (result.left._tag === 'Aborted') return result
      const leaving = tries.abandon()
      if (result.left._tag !== 'DriverFailure') await leaving
      return result
    }
    if (O.isSome(result.right)) return E.right(result.right.value)
    const remaining = deadline - clock.now()
    const next = retry(status)
    if (remaining <= 0 || O.isNone(next)) {
      await tries.abandon()
      return E.left(timeout(key, progress.attempts, clock.now() - start, await context.holderOf(key)))
    }
    const delay = Math.min(Math.max(0, next.value), remaining)
    status = nextRetryStatus(status, delay)
    result = await step(() => tries.wait(delay, signal))
    if (E.isRight(result) && O.isNone(result.right)) {
      progress.attempts++
      result = await step(tries.next)
    }
  }
}
