import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Clock } from '../../src/Clock.js'
import { LockError, driverFailure } from '../../src/LockError.js'
import { FenceCounter, memoryFenceCounter } from '../../src/quorum/FenceCounter.js'
import type { Store } from '../../src/Store.js'
import { MemoryStore, memoryStore } from '../../adapters/memory.js'

/**
 * How a test node misbehaves:
 * - `up`: answers;
 * - `refused`: fails at once, nothing applied (a refused connection);
 * - `lost`: applies the call, then fails as if its reply was lost (outcome unknown);
 * - `dropped`: fails as if the request was lost (outcome unknown), nothing applied;
 * - `frozen`: holds every call (like a SIGSTOPped server) until `thaw()`, then applies and answers them in order.
 */
export type Fault = 'up' | 'refused' | 'lost' | 'dropped' | 'frozen'

export interface Calls {
  acquire: number
  release: number
  extend: number
  raise: number
}

/** A memory store with a fence counter, as one quorum node the test can break. */
export interface TestNode extends Store {
  readonly label: string
  readonly fenceCounter: FenceCounter
  readonly calls: Calls
  fault: Fault
  /** Every answer comes this much later on the clock, after the call was applied. */
  lateMs: number
  /** Live keys on the node now. */
  readonly size: () => number
  /** Answers the calls held while `frozen`, in order, and sets the fault back to `up`. */
  readonly thaw: () => void
  /** Loses every key and counter (a restart without persistence); with `downMs`, refuses every call for that long first. */
  readonly wipe: (downMs?: number) => void
}

export interface TestNodeOptions {
  readonly clock: Clock
  /** Awaited when a call is sent and before it is answered (e.g. an fc scheduler's `schedule`), so calls interleave. */
  readonly via?: (what: string) => Promise<void>
}

const noop = (): Promise<void> => Promise.resolve()

export const testNode = (label: string, options: TestNodeOptions): TestNode => {
  const { clock } = options
  const via = options.via ?? noop
  let inner: MemoryStore = memoryStore({ clock, handoff: false })
  let counter: FenceCounter = memoryFenceCounter()
  let downUntil = -Infinity
  let thawed: Promise<void> | undefined
  let thawNow: () => void = () => undefined
  const calls: Calls = { acquire: 0, release: 0, extend: 0, raise: 0 }

  const call =
    <A>(op: keyof Calls, key: string, apply: () => TE.TaskEither<LockError, A>): TE.TaskEither<LockError, A> =>
    async () => {
      calls[op]++
      await via(`send ${op} ${label}`)
      if (self.fault === 'frozen') {
        thawed ??= new Promise((resolve) => (thawNow = resolve))
        await thawed
      }
      const fault = self.fault
      if (fault === 'refused' || clock.now() < downUntil) return E.left(driverFailure(key, new Error(`${label} refused the connection`), false))
      if (fault === 'dropped') return E.left(driverFailure(key, new Error(`${label} did not answer`), true))
      const answer = await apply()()
      if (self.lateMs > 0) await clock.sleep(self.lateMs)
      await via(`reply ${op} ${label}`)
      return fault === 'lost' ? E.left(driverFailure(key, new Error(`${label} did not answer`), true)) : answer
    }

  const self: TestNode = {
    name: 'memory',
    label,
    checkKey: E.right,
    checkTtl: E.right,
    acquire: (key, token, ttlMs) => call('acquire', key, () => inner.acquire(key, token, ttlMs)),
    release: (held) => call('release', held.key, () => inner.release(held)),
    extend: (held, ttlMs) => call('extend', held.key, () => inner.extend(held, ttlMs)),
    fenceCounter: { raise: (key, atLeast) => call('raise', key, () => counter.raise(key, atLeast)) },
    calls,
    fault: 'up',
    lateMs: 0,
    size: () => inner.size(),
    thaw: () => {
      self.fault = 'up'
      thawNow()
      thawed = undefined
    },
    wipe: (downMs = 0) => {
      inner = memoryStore({ clock, handoff: false })
      counter = memoryFenceCounter()
      downUntil = clock.now() + downMs
    }
  }
  return self
}
