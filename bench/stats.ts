/**
 * Pure statistics for the benchmark: percentiles, interval arithmetic on a
 * shared timeline, the contention figures (busy %, overlaps, shares) and ratios.
 *
 * Every function here is pure and total: empty input gives `NaN` or an empty
 * result, never a throw.
 *
 * @since 0.1.0
 */

/**
 * A summary of a sample of durations (milliseconds).
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly count: number
  readonly min: number
  readonly mean: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/**
 * A half-open time interval `[start, end)` in milliseconds on one timeline.
 *
 * @since 0.1.0
 */
export type Interval = readonly [start: number, end: number]

/**
 * The nearest-rank percentile of an ascending sample: the smallest value with
 * at least `p` % of the sample at or below it (`p = 0` gives the minimum).
 * `NaN` for an empty sample.
 *
 * @example
 * import { percentile } from './stats.js'
 * assert.strictEqual(percentile([1, 2, 3, 4], 50), 2)
 * assert.strictEqual(percentile([1, 2, 3, 4], 99), 4)
 *
 * @since 0.1.0
 */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * sorted.length)
  return sorted[Math.max(rank, 1) - 1] as number
}

/**
 * Count, min, mean, p50, p99 and max of a sample (in any order).
 *
 * @example
 * import { summarize } from './stats.js'
 * assert.strictEqual(summarize([3, 1, 2]).mean, 2)
 *
 * @since 0.1.0
 */
export const summarize = (sample: ReadonlyArray<number>): Summary => {
  const sorted = [...sample].sort((a, b) => a - b)
  const n = sorted.length
  const sum = sorted.reduce((s, x) => s + x, 0)
  return {
    count: n,
    min: n === 0 ? Number.NaN : (sorted[0] as number),
    mean: n === 0 ? Number.NaN : sum / n,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number)
  }
}

/**
 * Operations per second from a count and an elapsed time in milliseconds.
 *
 * @example
 * import { opsPerSecond } from './stats.js'
 * assert.strictEqual(opsPerSecond(500, 250), 2000)
 *
 * @since 0.1.0
 */
export const opsPerSecond = (ops: number, elapsedMs: number): number =>
  elapsedMs > 0 ? (ops * 1000) / elapsedMs : Number.NaN

/**
 * `value / base`, or `NaN` when either is missing or the base is not positive.
 *
 * @example
 * import { ratio } from './stats.js'
 * assert.strictEqual(ratio(110, 100), 1.1)
 *
 * @since 0.1.0
 */
export const ratio = (value: number | undefined, base: number | undefined): number =>
  value === undefined || base === undefined || !(base > 0) || !Number.isFinite(value) ? Number.NaN : value / base

/**
 * Sorts intervals and merges those that overlap or touch; empty and reversed
 * intervals are dropped.
 *
 * @example
 * import { union } from './stats.js'
 * assert.deepStrictEqual(union([[5, 7], [0, 2], [1, 3]]), [[0, 3], [5, 7]])
 *
 * @since 0.1.0
 */
export const union = (intervals: ReadonlyArray<Interval>): Array<Interval> => {
  const sorted = intervals.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  for (const [s, e] of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e)
    else out.push([s, e])
  }
  return out
}

/**
 * The total length of a set of intervals, counting overlapping time once.
 *
 * @example
 * import { measure } from './stats.js'
 * assert.strictEqual(measure([[0, 2], [1, 3], [10, 11]]), 4)
 *
 * @since 0.1.0
 */
export const measure = (intervals: ReadonlyArray<Interval>): number =>
  union(intervals).reduce((sum, [s, e]) => sum + (e - s), 0)

/**
 * The time covered by both sets of intervals, as merged intervals.
 *
 * @example
 * import { intersect } from './stats.js'
 * assert.deepStrictEqual(intersect([[0, 4]], [[1, 2], [3, 6]]), [[1, 2], [3, 4]])
 *
 * @since 0.1.0
 */
export const intersect = (a: ReadonlyArray<Interval>, b: ReadonlyArray<Interval>): Array<Interval> => {
  const x = union(a)
  const y = union(b)
  const out: Array<Interval> = []
  let i = 0
  let j = 0
  while (i < x.length && j < y.length) {
    const [as, ae] = x[i] as Interval
    const [bs, be] = y[j] as Interval
    const s = Math.max(as, bs)
    const e = Math.min(ae, be)
    if (e > s) out.push([s, e])
    if (ae < be) i++
    else j++
  }
  return out
}

/**
 * The contention figures of one run on a shared timeline.
 *
 * @since 0.1.0
 */
export interface Busy {
  /** Time in the window during which at least one worker was waiting to acquire. */
  readonly contendedMs: number
  /** Part of `contendedMs` during which some worker was inside its critical section. */
  readonly busyMs: number
  /** `busyMs / contendedMs` (0 to 1); `NaN` if nobody ever waited. */
  readonly busy: number
}

/**
 * Busy share: of the time (inside `window`) when at least one worker was
 * waiting for the lock, the share during which some worker held it. 1 means the
 * lock never sat idle while someone wanted it; the rest is hand-over cost.
 *
 * @example
 * import { busyShare } from './stats.js'
 * // one worker holds [0, 2), another waits [1, 3) and holds [3, 5)
 * const b = busyShare([[0, 2], [3, 5]], [[1, 3]], [0, 5])
 * assert.strictEqual(b.contendedMs, 2)
 * assert.strictEqual(b.busy, 0.5)
 *
 * @since 0.1.0
 */
export const busyShare = (
  held: ReadonlyArray<Interval>,
  waiting: ReadonlyArray<Interval>,
  window: Interval
): Busy => {
  const contended = intersect(waiting, [window])
  const contendedMs = measure(contended)
  const busyMs = measure(intersect(held, contended))
  return { contendedMs, busyMs, busy: contendedMs > 0 ? busyMs / contendedMs : Number.NaN }
}

/**
 * Overlaps between critical sections that must be mutually exclusive.
 *
 * @since 0.1.0
 */
export interface Overlaps {
  /** Intervals that intersect an earlier-starting one (touching ends do not count). */
  readonly count: number
  /** The longest such intersection, in ms (0 if none). */
  readonly worstMs: number
}

/**
 * Finds intervals that intersect another one. With a correct lock the
 * critical sections of all workers are disjoint, so this must be `{ count: 0 }`.
 *
 * @example
 * import { overlaps } from './stats.js'
 * assert.deepStrictEqual(overlaps([[0, 2], [2, 4]]), { count: 0, worstMs: 0 })
 * assert.deepStrictEqual(overlaps([[0, 3], [2, 4], [5, 6]]), { count: 1, worstMs: 1 })
 *
 * @since 0.1.0
 */
export const overlaps = (intervals: ReadonlyArray<Interval>): Overlaps => {
  const sorted = intervals.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let count = 0
  let worstMs = 0
  let reach = Number.NEGATIVE_INFINITY
  for (const [s, e] of sorted) {
    if (s < reach) {
      count++
      worstMs = Math.max(worstMs, Math.min(e, reach) - s)
    }
    reach = Math.max(reach, e)
  }
  return { count, worstMs }
}

/**
 * How evenly acquisitions were spread over the workers.
 *
 * @since 0.1.0
 */
export interface Shares {
  /** Each worker's acquisitions. */
  readonly counts: ReadonlyArray<number>
  /** Each worker's fraction of all acquisitions. */
  readonly fractions: ReadonlyArray<number>
  /** The largest `|count − mean| / mean` over the workers (0 = perfectly even). */
  readonly maxDeviation: number
}

/**
 * Each worker's share of the acquisitions and the worst deviation from the mean.
 *
 * @example
 * import { shares } from './stats.js'
 * const s = shares([90, 110])
 * assert.deepStrictEqual(s.fractions, [0.45, 0.55])
 * assert.ok(Math.abs(s.maxDeviation - 0.1) < 1e-12)
 *
 * @since 0.1.0
 */
export const shares = (counts: ReadonlyArray<number>): Shares => {
  const total = counts.reduce((s, c) => s + c, 0)
  const mean = counts.length === 0 ? 0 : total / counts.length
  return {
    counts: [...counts],
    fractions: counts.map((c) => (total > 0 ? c / total : Number.NaN)),
    maxDeviation: mean > 0 ? Math.max(...counts.map((c) => Math.abs(c - mean) / mean)) : Number.NaN
  }
}

/**
 * What one contention worker recorded, in ms on the shared timeline.
 *
 * @since 0.1.0
 */
export interface WorkerRecord {
  /** `[attemptAt, acquiredAt, releasedAt]` for each acquisition: waited from the first, held from the second to the third. */
  readonly acquisitions: ReadonlyArray<readonly [attemptAt: number, acquiredAt: number, releasedAt: number]>
  /** `[attemptAt, gaveUpAt]` for each attempt that ended without the lock (its library's timeout or retry limit). */
  readonly failures: ReadonlyArray<readonly [attemptAt: number, gaveUpAt: number]>
  /** For each acquisition (same index), when its release call resolved. */
  readonly releaseDone?: ReadonlyArray<number>
  /** For each acquisition (same index), when the client heard the key was handed to it (`NaN`: it was not). */
  readonly notified?: ReadonlyArray<number>
}

/**
 * The figures of one contention run.
 *
 * @since 0.1.0
 */
export interface ContentionFigures extends Busy {
  readonly acquisitions: number
  readonly failures: number
  /** Acquisitions per second of window. */
  readonly rate: number
  /** Wait of every attempt (successful or not), from call to lock or give-up. */
  readonly waitMs: Summary
  /** How long the critical sections lasted. */
  readonly holdMs: Summary
  readonly shares: Shares
  readonly overlaps: Overlaps
}

/**
 * Busy %, wait times, shares and overlaps from every worker's records over
 * the measurement window.
 *
 * @example
 * import { contentionFigures } from './stats.js'
 * const f = contentionFigures([
 *   { acquisitions: [[0, 0, 2]], failures: [] },
 *   { acquisitions: [[1, 3, 5]], failures: [] }
 * ], [0, 5])
 * assert.strictEqual(f.busy, 0.5)
 * assert.strictEqual(f.overlaps.count, 0)
 *
 * @since 0.1.0
 */
export const contentionFigures = (workers: ReadonlyArray<WorkerRecord>, window: Interval): ContentionFigures => {
  const all = workers.flatMap((w) => w.acquisitions)
  const held: Array<Interval> = all.map(([, a, r]) => [a, r])
  const waiting: Array<Interval> = [
    ...all.map(([t, a]): Interval => [t, a]),
    ...workers.flatMap((w) => w.failures.map(([t, g]): Interval => [t, g]))
  ]
  const failures = workers.reduce((n, w) => n + w.failures.length, 0)
  return {
    ...busyShare(held, waiting, window),
    acquisitions: all.length,
    failures,
    rate: opsPerSecond(all.length, window[1] - window[0]),
    waitMs: summarize(waiting.map(([s, e]) => e - s)),
    holdMs: summarize(held.map(([s, e]) => e - s)),
    shares: shares(workers.map((w) => w.acquisitions.length)),
    overlaps: overlaps(held)
  }
}

/**
 * Where the time of a handoff goes, from every worker's timestamps on the
 * shared clock. A handoff is an acquisition whose taker was already waiting
 * when the previous holder called release.
 *
 * @since 0.3.0
 */
export interface HandoffProfile {
  readonly handoffs: number
  /** From the release call to the next holder's acquire resolving: the lock's idle time. */
  readonly idleMs: Summary
  /** From the release call to the release resolving, in the old holder. */
  readonly releaseMs: Summary
  /** From the release call to the next holder hearing it was handed the key (leaselock's handoff event, the ring's turn message). */
  readonly toNoticeMs: Summary
  /** From hearing it to its acquire resolving, in the next holder. */
  readonly noticeToAcquiredMs: Summary
}

/**
 * The profile of the handoffs that end inside `window`.
 *
 * @example
 * import { handoffProfile } from './stats.js'
 * const p = handoffProfile([
 *   { acquisitions: [[0, 0, 2]], failures: [], releaseDone: [2.3], notified: [Number.NaN] },
 *   { acquisitions: [[1, 2.5, 4.5]], failures: [], releaseDone: [4.8], notified: [2.4] }
 * ], [0, 10])
 * assert.strictEqual(p.handoffs, 1)
 * assert.strictEqual(p.idleMs.p50, 0.5)
 * assert.ok(Math.abs(p.toNoticeMs.p50 - 0.4) < 1e-9)
 *
 * @since 0.3.0
 */
export const handoffProfile = (records: ReadonlyArray<WorkerRecord>, window: Interval): HandoffProfile => {
  const all = records
    .flatMap((r) =>
      r.acquisitions.map(([attemptAt, acquiredAt, releasedAt], i) => ({
        attemptAt,
        acquiredAt,
        releasedAt,
        releaseDone: r.releaseDone?.[i] ?? Number.NaN,
        notified: r.notified?.[i] ?? Number.NaN
      }))
    )
    .sort((a, b) => a.acquiredAt - b.acquiredAt)
  const idle: number[] = []
  const release: number[] = []
  const toNotice: number[] = []
  const noticeToAcquired: number[] = []
  all.forEach((cur, i) => {
    const prev = all[i - 1]
    if (prev === undefined || cur.acquiredAt < window[0] || cur.acquiredAt > window[1] || cur.attemptAt > prev.releasedAt) return
    idle.push(cur.acquiredAt - prev.releasedAt)
    if (Number.isFinite(prev.releaseDone)) release.push(prev.releaseDone - prev.releasedAt)
    if (Number.isFinite(cur.notified) && cur.notified >= prev.releasedAt) {
      toNotice.push(cur.notified - prev.releasedAt)
      noticeToAcquired.push(cur.acquiredAt - cur.notified)
    }
  })
  return {
    handoffs: idle.length,
    idleMs: summarize(idle),
    releaseMs: summarize(release),
    toNoticeMs: summarize(toNotice),
    noticeToAcquiredMs: summarize(noticeToAcquired)
  }
}
