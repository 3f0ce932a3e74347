/**
 * Lock events on `node:diagnostics_channel`, the way undici and node-redis
 * publish theirs: tracing channels for the operations, plain channels for
 * what happens in between. Nothing is built or published while nobody
 * subscribes.
 *
 * | channel | kind | when |
 * | --- | --- | --- |
 * | `leaselock:acquire` | tracing | `acquire` and `tryAcquire` |
 * | `leaselock:release` | tracing | `release` |
 * | `leaselock:extend` | tracing | `extend` |
 * | `leaselock:handoff` | plain | a waiter is handed the key by a release |
 * | `leaselock:lost` | plain | a keeper's signal fires (lease refused or expired) |
 * | `leaselock:giveback` | plain | a grant is given back (outcome unknown, spent on arrival, landed after an abort) |
 *
 * A tracing channel's context is the event below; `outcome` and the other
 * result fields are set before `asyncEnd` is published.
 *
 * @since 0.2.0
 */
import { Channel, TracingChannel, channel, tracingChannel } from 'node:diagnostics_channel'
import type { LockError } from './LockError.js'

/**
 * The context of a `leaselock:acquire` trace.
 *
 * @example
 * import { AcquireEvent } from 'leaselock'
 * const line = (e: AcquireEvent) => `${e.backend} ${e.key}: ${e.outcome} after ${e.attempts} attempts, ${e.waitedMs} ms`
 *
 * @since 0.2.0
 */
export interface AcquireEvent {
  readonly key: string
  /** The store's name (`redis`, `memcached`, `memory`, …). */
  readonly backend: string
  readonly operation: 'acquire' | 'tryAcquire'
  readonly ttlMs: number
  /** `acquired`, `held` (tryAcquire found it taken), or the failure's code (`LOCK_TIMEOUT`, …). */
  outcome?: string
  attempts?: number
  waitedMs?: number
  fence?: bigint
  error?: LockError
}

/**
 * The context of a `leaselock:release` or `leaselock:extend` trace.
 *
 * @example
 * import { LeaseEvent } from 'leaselock'
 * const line = (e: LeaseEvent) => `${e.operation} ${e.key} (fence ${e.fence}): ${e.outcome}`
 *
 * @since 0.2.0
 */
export interface LeaseEvent {
  readonly key: string
  readonly backend: string
  readonly operation: 'release' | 'extend'
  readonly fence: bigint
  /** `released`, `extended`, or the failure's code (`NOT_HELD`, …). */
  outcome?: string
  error?: LockError
}

/**
 * Published on `leaselock:handoff`: `early` when the lease was answered from
 * the notification, before its claim came back.
 *
 * @example
 * import { HandoffEvent } from 'leaselock'
 * const e: HandoffEvent = { key: 'k', backend: 'redis', fence: 7n, early: true }
 *
 * @since 0.2.0
 */
export interface HandoffEvent {
  readonly key: string
  readonly backend: string
  readonly fence: bigint
  readonly early: boolean
}

/**
 * Published on `leaselock:lost`.
 *
 * @example
 * import { LostEvent } from 'leaselock'
 * const e: LostEvent = { key: 'k', fence: 7n, why: 'expired' }
 *
 * @since 0.2.0
 */
export interface LostEvent {
  readonly key: string
  readonly fence: bigint
  readonly why: 'refused' | 'expired'
}

/**
 * Published on `leaselock:giveback`.
 *
 * @example
 * import { GiveBackEvent } from 'leaselock'
 * const e: GiveBackEvent = { key: 'k', backend: 'redis', reason: 'unknown' }
 *
 * @since 0.2.0
 */
export interface GiveBackEvent {
  readonly key: string
  readonly backend: string
  readonly reason: 'unknown' | 'spent' | 'aborted'
}

/**
 * The channels, by name.
 *
 * @example
 * import { channels } from 'leaselock'
 * import { subscribe, unsubscribe } from 'node:diagnostics_channel'
 * const onLost = (message: unknown) => console.log('lost', message)
 * subscribe('leaselock:lost', onLost)
 * unsubscribe('leaselock:lost', onLost)
 * assert.strictEqual(channels.lost.name, 'leaselock:lost')
 *
 * @since 0.2.0
 */
export const channels = {
  acquire: tracingChannel<unknown, AcquireEvent & object>('leaselock:acquire'),
  release: tracingChannel<unknown, LeaseEvent & object>('leaselock:release'),
  extend: tracingChannel<unknown, LeaseEvent & object>('leaselock:extend'),
  handoff: channel('leaselock:handoff'),
  lost: channel('leaselock:lost'),
  giveback: channel('leaselock:giveback')
} as const

const traced = (tc: TracingChannel<unknown, object>): boolean =>
  tc.start.hasSubscribers || tc.end.hasSubscribers || tc.asyncStart.hasSubscribers || tc.asyncEnd.hasSubscribers || tc.error.hasSubscribers

/**
 * Runs `run` inside a trace of `tc` when someone subscribes (`context()` is
 * only built then); `complete` fills the context's result fields before the
 * trace ends.
 *
 * @example
 * import { channels, trace } from 'leaselock'
 * const r = await trace(channels.release, () => ({ key: 'k', backend: 'memory', operation: 'release' as const, fence: 1n }), async () => 1, (e) => (e.outcome = 'released'))
 * assert.strictEqual(r, 1)
 *
 * @since 0.2.0
 */
export const trace = <C extends object, A>(
  tc: TracingChannel<unknown, C>,
  context: () => C,
  run: () => Promise<A>,
  complete: (context: C, result: A) => void
): Promise<A> => {
  if (!traced(tc as TracingChannel<unknown, object>)) return run()
  const c = context()
  return tc.tracePromise(async () => {
    const result = await run()
    complete(c, result)
    return result
  }, c)
}

/**
 * Publishes on a plain channel when someone subscribes (`message()` is only built then).
 *
 * @example
 * import { channels, publish } from 'leaselock'
 * publish(channels.giveback, () => ({ key: 'k', backend: 'memory', reason: 'spent' }))
 *
 * @since 0.2.0
 */
export const publish = <M>(ch: Channel, message: () => M): void => {
  if (ch.hasSubscribers) ch.publish(message())
}
