/**
 * Time, injected: the lock core never reads the system clock or sets a timer itself.
 *
 * @since 0.1.0
 */
import { setTimeout as delay } from 'node:timers/promises'

/**
 * A monotonic clock in milliseconds and a way to wait on it.
 *
 * `sleep` resolves after `ms` (or at once when `signal` aborts); it never rejects.
 *
 * @example
 * import { Clock } from 'leaselock'
 * const elapsed = async (clock: Clock) => { const t0 = clock.now(); await clock.sleep(10); return clock.now() - t0 }
 *
 * @since 0.1.0
 */
export interface Clock {
  readonly now: () => number
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * The real clock: `performance.now()` (monotonic, unaffected by wall-clock jumps)
 * and timer-based sleep that an `AbortSignal` cuts short. Even a zero sleep
 * yields to the event loop, so a zero-delay retry loop cannot starve it.
 *
 * @example
 * import { realClock } from 'leaselock'
 * const t0 = realClock.now()
 * await realClock.sleep(5)
 * assert.ok(realClock.now() - t0 >= 4)
 *
 * @since 0.1.0
 */
export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    signal?.aborted === true || ms <= 0
      ? new Promise((resolve) => setImmediate(resolve))
      : delay(ms, undefined, signal === undefined ? undefined : { signal }).then(
          () => undefined,
          () => undefined
        )
}

/**
 * A clock that only moves when told to. `sleep(ms)` advances it by `ms` at
 * once and resolves on the next turn of the event loop (so concurrent loops
 * interleave instead of starving each other), so retry and TTL logic runs in
 * virtual time; `advance` moves it from outside.
 *
 * @example
 * import { VirtualClock } from 'leaselock'
 * const clock = new VirtualClock()
 * await clock.sleep(1000)
 * assert.strictEqual(clock.now(), 1000)
 *
 * @since 0.1.0
 */
export class VirtualClock implements Clock {
  private t: number
  constructor(start = 0) {
    this.t = start
  }
  readonly now = (): number => this.t
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted !== true && ms > 0) this.t += ms
    return new Promise((resolve) => setImmediate(resolve))
  }
  /** Moves time forward by `ms` (negative values are ignored). */
  advance(ms: number): void {
    if (ms > 0) this.t += ms
  }
}

/**
 * A clock that moves only through `advance`: `sleep` waits until the clock has
 * been advanced past its deadline (or its signal aborts). For tests that drive
 * concurrent loops (retries, renewals) step by step.
 *
 * @example
 * import { ManualClock } from 'leaselock'
 * const clock = new ManualClock()
 * const woke = clock.sleep(100)
 * clock.advance(100)
 * await woke
 * assert.strictEqual(clock.now(), 100)
 *
 * @since 0.1.0
 */
export class ManualClock implements Clock {
  private t: number
  private waiters = new Set<{ readonly at: number; readonly wake: () => void }>()
  constructor(start = 0) {
    this.t = start
  }
  readonly now = (): number => this.t
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted === true || ms <= 0) return resolve()
      const waiter = {
        at: this.t + ms,
        wake: () => {
          this.waiters.delete(waiter)
          signal?.removeEventListener('abort', waiter.wake)
          resolve()
        }
      }
      this.waiters.add(waiter)
      signal?.addEventListener('abort', waiter.wake, { once: true })
    })
  /** Moves time forward by `ms` and wakes every sleeper whose deadline has come. */
  advance(ms: number): void {
    if (ms > 0) this.t += ms
    for (const waiter of [...this.waiters]) if (waiter.at <= this.t) waiter.wake()
  }
  /**
   * Moves time to the earliest pending sleep's deadline and wakes every
   * sleeper due then: one step of a discrete-event simulation, run when
   * nothing else can happen. `false` when no sleep is pending.
   *
   * @example
   * import { ManualClock } from 'leaselock'
   * const clock = new ManualClock()
   * const woke = clock.sleep(250)
   * assert.ok(clock.advanceToNext())
   * await woke
   * assert.strictEqual(clock.now(), 250)
   * assert.ok(!clock.advanceToNext())
   */
  advanceToNext(): boolean {
    let next = Infinity
    for (const waiter of this.waiters) next = Math.min(next, waiter.at)
    if (next === Infinity) return false
    this.advance(next - this.t)
    return true
  }
  /** How many sleeps are pending. */
  pending(): number {
    return this.waiters.size
  }
}

/**
 * A sleep that can also be cut short by the caller: `cancel()` ends it (and
 * detaches from `signal`), as does `signal`. Unlike `AbortSignal.any`, which
 * on Node 20 keeps a dependent signal alive for as long as a long-lived
 * `signal` lives, it leaves nothing behind once it ended.
 *
 * @example
 * import { ManualClock, cancellableSleep } from 'leaselock'
 * const clock = new ManualClock()
 * const nap = cancellableSleep(clock, 1_000, AbortSignal.timeout(60_000))
 * nap.cancel()
 * await nap.done
 * assert.strictEqual(clock.pending(), 0)
 *
 * @since 0.3.0
 */
export const cancellableSleep = (clock: Clock, ms: number, signal?: AbortSignal): { readonly done: Promise<void>; readonly cancel: () => void } => {
  const stop = new AbortController()
  const cancel = (): void => stop.abort()
  if (signal?.aborted === true) cancel()
  else signal?.addEventListener('abort', cancel, { once: true })
  const done = clock.sleep(ms, stop.signal).then(() => signal?.removeEventListener('abort', cancel))
  return { done, cancel }
}
