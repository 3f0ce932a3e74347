/**
 * The semaphore scenario: W processes (8 by default) share a semaphore of
 * {@link SEMAPHORE_LIMIT} on one Redis server — leaselock's and
 * redis-semaphore's `Semaphore`, one after the other in the same run — each
 * taking a permit, holding it, releasing it and pausing, for the scenario's
 * duration. Figures: throughput, wait percentiles, utilisation (of the time
 * someone waited, the share during which every permit was taken), the most
 * permits held at once, and throughput as a ratio to redis-semaphore's.
 *
 * @since 0.4.0
 */
import { collect } from './contention.js'
import { SEMAPHORE_LIMIT, semaphoreContestants } from './contestants.js'
import type { Outcome, Progress } from './scenarios.js'
import type { Endpoints } from './servers.js'
import { table } from './report.js'
import { Interval, Shares, Summary, intersect, measure, opsPerSecond, shares, summarize, union, WorkerRecord } from './stats.js'

/**
 * @since 0.4.0
 */
export interface SemaphoreFigures {
  readonly limit: number
  readonly workers: number
  readonly acquisitions: number
  readonly failures: number
  /** Permits taken per second of window. */
  readonly rate: number
  /** Wait of every attempt, from call to permit or give-up. */
  readonly waitMs: Summary
  /** Time in the window during which someone waited. */
  readonly contendedMs: number
  /** Part of `contendedMs` during which all `limit` permits were held. */
  readonly fullMs: number
  /** `fullMs / contendedMs`: 1 means no permit sat free while someone waited. */
  readonly utilisation: number
  /** The most permits held at one instant (at most `limit` for a correct semaphore). */
  readonly mostInside: number
  readonly shares: Shares
}

/**
 * The stretches during which at least `n` of the intervals overlap, and the
 * most that ever overlap (touching ends do not overlap).
 *
 * @example
 * import { crowded } from './semaphores.js'
 * const c = crowded([[0, 4], [1, 3], [2, 6]], 3)
 * assert.deepStrictEqual(c.stretches, [[2, 3]])
 * assert.strictEqual(c.most, 3)
 *
 * @since 0.4.0
 */
export const crowded = (intervals: ReadonlyArray<Interval>, n: number): { readonly stretches: Array<Interval>; readonly most: number } => {
  const events = intervals.flatMap(([s, e]): Array<readonly [number, number]> => [
    [s, 1],
    [e, -1]
  ])
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const stretches: Array<Interval> = []
  let inside = 0
  let most = 0
  let from: number | undefined
  for (const [at, delta] of events) {
    inside += delta
    most = Math.max(most, inside)
    if (inside >= n && from === undefined) from = at
    if (inside < n && from !== undefined) {
      if (at > from) stretches.push([from, at])
      from = undefined
    }
  }
  return { stretches, most }
}

/**
 * The figures of one run of `workers`' records over `window`.
 *
 * @example
 * import { semaphoreFigures } from './semaphores.js'
 * // limit 1: one holds [0, 2), another waits [1, 3) and holds [3, 5): full for half the wait
 * const f = semaphoreFigures([{ acquisitions: [[0, 0, 2]], failures: [] }, { acquisitions: [[1, 3, 5]], failures: [] }], [0, 5], 1)
 * assert.strictEqual(f.utilisation, 0.5)
 * assert.strictEqual(f.mostInside, 1)
 *
 * @since 0.4.0
 */
export const semaphoreFigures = (workers: ReadonlyArray<WorkerRecord>, window: Interval, limit: number): SemaphoreFigures => {
  const all = workers.flatMap((w) => w.acquisitions)
  const held: Array<Interval> = all.map(([, a, r]) => [a, r])
  const waiting: Array<Interval> = [...all.map(([t, a]): Interval => [t, a]), ...workers.flatMap((w) => w.failures.map(([t, g]): Interval => [t, g]))]
  const contended = intersect(union(waiting), [window])
  const contendedMs = measure(contended)
  const { stretches, most } = crowded(held, limit)
  const fullMs = measure(intersect(stretches, contended))
  return {
    limit,
    workers: workers.length,
    acquisitions: all.length,
    failures: workers.reduce((n, w) => n + w.failures.length, 0),
    rate: opsPerSecond(all.length, window[1] - window[0]),
    waitMs: summarize(waiting.map(([s, e]) => e - s)),
    contendedMs,
    fullMs,
    utilisation: contendedMs > 0 ? fullMs / contendedMs : Number.NaN,
    mostInside: most,
    shares: shares(workers.map((w) => w.acquisitions.length))
  }
}

/**
 * @since 0.4.0
 */
export interface SemaphoreRun {
  readonly workers: number
  readonly holdMs: number
  readonly pauseMs: number
  readonly durationMs: number
  readonly prefix: string
}

/**
 * Runs the scenario for every semaphore contestant, one after the other.
 *
 * @example
 * import { semaphoreScenario } from './semaphores.js'
 * const results = await semaphoreScenario({ redisUrl: 'redis://127.0.0.1:6379' }, { workers: 8, holdMs: 2, pauseMs: 1, durationMs: 1500, prefix: 'bench' }, console.error)
 *
 * @since 0.4.0
 */
export const semaphoreScenario = async (
  endpoints: Endpoints,
  run: SemaphoreRun,
  progress: Progress
): Promise<Record<string, Outcome<SemaphoreFigures>>> => {
  const results: Record<string, Outcome<SemaphoreFigures>> = {}
  for (const c of semaphoreContestants) {
    try {
      const { records, window } = await collect(c.id, endpoints, { ...run, ttlMs: 5_000, timeoutMs: 10_000 }, 'semaphore')
      const figures = semaphoreFigures(records, window, SEMAPHORE_LIMIT)
      progress(
        `  semaphore ${c.id}: ${figures.rate.toFixed(0)} permits/s, wait p99 ${figures.waitMs.p99.toFixed(1)} ms, ` +
          `utilisation ${(figures.utilisation * 100).toFixed(1)}%, at most ${figures.mostInside} inside`
      )
      results[c.id] = { ok: true, figures }
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e)
      progress(`  semaphore ${c.id}: failed: ${error}`)
      results[c.id] = { ok: false, error }
    }
  }
  return results
}

/** The baseline the ratios are taken to. */
const BASELINE = 'redis-semaphore-semaphore'

/**
 * The semaphore table: each contestant's figures, and its throughput and wait
 * p99 as ratios to redis-semaphore's in the same run.
 *
 * @example
 * import { renderSemaphores } from './semaphores.js'
 * assert.match(renderSemaphores({}), /semaphore/)
 *
 * @since 0.4.0
 */
export const renderSemaphores = (results: Readonly<Record<string, Outcome<SemaphoreFigures>>>): string => {
  const base = results[BASELINE]
  const baseline = base?.ok === true ? base.figures : undefined
  const rows = semaphoreContestants.flatMap((c) => {
    const r = results[c.id]
    if (r === undefined) return []
    if (!r.ok) return [[c.label, `failed: ${r.error}`, '', '', '', '', '', '']]
    const f = r.figures
    return [
      [
        c.label,
        f.rate.toFixed(0),
        baseline === undefined ? '–' : `${(f.rate / baseline.rate).toFixed(2)}×`,
        f.waitMs.p50.toFixed(1),
        f.waitMs.p99.toFixed(1),
        baseline === undefined ? '–' : `${(f.waitMs.p99 / baseline.waitMs.p99).toFixed(2)}×`,
        `${(f.utilisation * 100).toFixed(1)}%`,
        `${f.mostInside} / ${f.limit}`
      ]
    ]
  })
  const header = ['semaphore (limit 3, Redis)', 'permits/s', 'vs redis-semaphore', 'wait p50 ms', 'wait p99 ms', 'p99 vs redis-semaphore', 'utilisation', 'most inside']
  return rows.length === 0 ? 'semaphore: (no Redis in this run)' : table(header, rows, 1)
}
