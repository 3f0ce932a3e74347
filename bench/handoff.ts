/**
 * The handoff scenario: leaselock on Redis against the raw handoff ring
 * (`ring.ts`), each run as the contention scenario runs it (the same
 * processes, hold and pause), with 4 and with 8 processes, the two back to
 * back so they share the machine's state; and the ratios of our figures to the
 * ring's, with the targets of issue 13.
 *
 * @since 0.3.0
 */
import { ContentionOptions, ContentionResult, contention } from './contention.js'
import type { Outcome, Progress } from './scenarios.js'
import type { Endpoints } from './servers.js'
import { ratio } from './stats.js'

/**
 * The contestant measured against the ring, and the ring.
 *
 * @example
 * import { HANDOFF_PAIR } from './handoff.js'
 * assert.strictEqual(HANDOFF_PAIR.floor, 'raw-ring')
 *
 * @since 0.3.0
 */
export const HANDOFF_PAIR = { ours: 'leaselock-redis', floor: 'raw-ring' } as const

/**
 * The process counts the scenario runs with.
 *
 * @example
 * import { HANDOFF_WORKERS } from './handoff.js'
 * assert.deepStrictEqual(HANDOFF_WORKERS, [4, 8])
 *
 * @since 0.3.0
 */
export const HANDOFF_WORKERS: ReadonlyArray<number> = [4, 8]

/**
 * Ours and the ring with one number of processes.
 *
 * @since 0.3.0
 */
export interface HandoffRun {
  readonly workers: number
  readonly ours: Outcome<ContentionResult>
  readonly floor: Outcome<ContentionResult>
}

/**
 * Our busy share and wait p99 as multiples of the ring's (`NaN` when either run failed).
 *
 * @since 0.3.0
 */
export interface HandoffRatios {
  /** Our busy share / the ring's: 1 = the lock sits idle between holders no longer than the ring's. */
  readonly busyXFloor: number
  /** Our wait p99 / the ring's. */
  readonly waitP99XFloor: number
}

/**
 * The goals: busy at least 0.95x the ring's, wait p99 at most 1.5x.
 *
 * @example
 * import { HANDOFF_TARGETS } from './handoff.js'
 * assert.strictEqual(HANDOFF_TARGETS.busyXFloor, 0.95)
 *
 * @since 0.3.0
 */
export const HANDOFF_TARGETS: HandoffRatios = { busyXFloor: 0.95, waitP99XFloor: 1.5 }

const figures = <A>(o: Outcome<A>): A | undefined => (o.ok ? o.figures : undefined)

/**
 * The ratios of one run.
 *
 * @example
 * import { handoffRatios } from './handoff.js'
 * const run = (busy: number, p99: number) => ({ ok: true as const, figures: { busy, waitMs: { p99 } } as never })
 * assert.deepStrictEqual(handoffRatios({ workers: 4, ours: run(0.76, 15), floor: run(0.8, 10) }), { busyXFloor: 0.95, waitP99XFloor: 1.5 })
 *
 * @since 0.3.0
 */
export const handoffRatios = (run: HandoffRun): HandoffRatios => {
  const ours = figures(run.ours)
  const floor = figures(run.floor)
  return { busyXFloor: ratio(ours?.busy, floor?.busy), waitP99XFloor: ratio(ours?.waitMs.p99, floor?.waitMs.p99) }
}

/**
 * Whether a run meets both goals: `null` when it could not be measured.
 *
 * @example
 * import { handoffMet } from './handoff.js'
 * assert.strictEqual(handoffMet({ busyXFloor: 0.96, waitP99XFloor: 1.2 }), true)
 * assert.strictEqual(handoffMet({ busyXFloor: 0.9, waitP99XFloor: 1.2 }), false)
 * assert.strictEqual(handoffMet({ busyXFloor: Number.NaN, waitP99XFloor: 1 }), null)
 *
 * @since 0.3.0
 */
export const handoffMet = (r: HandoffRatios): boolean | null =>
  Number.isFinite(r.busyXFloor) && Number.isFinite(r.waitP99XFloor)
    ? r.busyXFloor >= HANDOFF_TARGETS.busyXFloor && r.waitP99XFloor <= HANDOFF_TARGETS.waitP99XFloor
    : null

/**
 * Runs the ring and ours, back to back, with each process count.
 *
 * @example
 * import { handoff } from './handoff.js'
 * const runs = await handoff({ redisUrl: 'redis://127.0.0.1:6379' }, {
 *   holdMs: 2, pauseMs: 1, durationMs: 2000, ttlMs: 5000, timeoutMs: 10000, prefix: 'bench'
 * }, [4, 8], console.error)
 *
 * @since 0.3.0
 */
export const handoff = async (
  endpoints: Endpoints,
  options: Omit<ContentionOptions, 'workers'>,
  workerCounts: ReadonlyArray<number>,
  progress: Progress
): Promise<ReadonlyArray<HandoffRun>> => {
  const runs: HandoffRun[] = []
  for (const workers of workerCounts) {
    const floor = await contention(HANDOFF_PAIR.floor, endpoints, { ...options, workers }, progress)
    const ours = await contention(HANDOFF_PAIR.ours, endpoints, { ...options, workers }, progress)
    runs.push({ workers, ours, floor })
  }
  return runs
}
