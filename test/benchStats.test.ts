import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as fc from 'fast-check'
import {
  Interval,
  busyShare,
  contentionFigures,
  intersect,
  measure,
  opsPerSecond,
  overlaps,
  percentile,
  ratio,
  shares,
  summarize,
  union
} from '../bench/stats.js'

const S = suite('bench stats')

const interval = fc
  .tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 50 }))
  .map(([s, len]): Interval => [s, s + len])
const intervals = fc.array(interval, { maxLength: 30 })

S('percentile uses the nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1)
  assert.is(percentile(xs, 50), 50)
  assert.is(percentile(xs, 99), 99)
  assert.is(percentile(xs, 100), 100)
  assert.is(percentile(xs, 0), 1)
  assert.is(percentile([7], 99), 7)
  assert.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 10)
  assert.ok(Number.isNaN(percentile([], 50)))
})

S('summarize sorts its input and reports count, min, mean, p50, p99, max', () => {
  const s = summarize([5, 1, 4, 2, 3])
  assert.equal(s, { count: 5, min: 1, mean: 3, p50: 3, p99: 5, max: 5 })
  assert.ok(Number.isNaN(summarize([]).mean))
  assert.is(summarize([]).count, 0)
})

S('opsPerSecond and ratio guard against empty bases', () => {
  assert.is(opsPerSecond(1000, 500), 2000)
  assert.ok(Number.isNaN(opsPerSecond(10, 0)))
  assert.is(ratio(55, 50), 1.1)
  assert.ok(Number.isNaN(ratio(1, 0)))
  assert.ok(Number.isNaN(ratio(undefined, 3)))
  assert.ok(Number.isNaN(ratio(Number.NaN, 3)))
})

S('union merges overlapping and touching intervals and drops empty ones', () => {
  assert.equal(union([[4, 6], [0, 1], [1, 2], [5, 9], [3, 3], [8, 7]]), [[0, 2], [4, 9]])
  assert.is(measure([[0, 10], [2, 3], [20, 25]]), 15)
})

S('intersect keeps only time covered by both sides', () => {
  assert.equal(intersect([[0, 10], [20, 30]], [[5, 25]]), [[5, 10], [20, 25]])
  assert.equal(intersect([[0, 1]], [[1, 2]]), [])
})

S('union and intersect agree with a pointwise model (property)', () => {
  const covered = (xs: ReadonlyArray<Interval>, t: number): boolean => xs.some(([s, e]) => s <= t && t < e)
  fc.assert(
    fc.property(intervals, intervals, (a, b) => {
      const both = intersect(a, b)
      for (let t = 0; t < 1050; t++) {
        if (covered(union(a), t) !== covered(a, t)) return false
        if (covered(both, t) !== (covered(a, t) && covered(b, t))) return false
      }
      return measure(both) <= Math.min(measure(a), measure(b))
    }),
    { numRuns: 200 }
  )
})

S('busyShare: idle hand-over time while someone waits lowers the share', () => {
  // A holds [0, 4); B waits [1, 5) and holds [5, 9); C waits [6, 9) and holds [9, 10)
  const held: Interval[] = [[0, 4], [5, 9], [9, 10]]
  const waiting: Interval[] = [[1, 5], [6, 9]]
  const b = busyShare(held, waiting, [0, 10])
  assert.is(b.contendedMs, 7)
  assert.is(b.busyMs, 6)
  assert.is(b.busy, 6 / 7)
  assert.ok(Number.isNaN(busyShare(held, [], [0, 10]).busy))
  assert.is(busyShare(held, waiting, [0, 3]).contendedMs, 2)
})

S('busyShare stays within [0, 1] (property)', () => {
  fc.assert(
    fc.property(intervals, intervals, (held, waiting) => {
      const b = busyShare(held, waiting, [0, 1100])
      return b.contendedMs === 0 ? Number.isNaN(b.busy) : b.busy >= 0 && b.busy <= 1 && b.busyMs <= b.contendedMs
    }),
    { numRuns: 300 }
  )
})

S('overlaps counts intersecting critical sections, not touching ones', () => {
  assert.equal(overlaps([[0, 1], [1, 2], [2, 3]]), { count: 0, worstMs: 0 })
  assert.equal(overlaps([[10, 20], [0, 5], [15, 16], [19, 30]]), { count: 2, worstMs: 1 })
  assert.equal(overlaps([[0, 10], [2, 8]]), { count: 1, worstMs: 6 })
  assert.equal(overlaps([]), { count: 0, worstMs: 0 })
})

S('overlaps is zero exactly when no two intervals intersect (property)', () => {
  fc.assert(
    fc.property(intervals, (xs) => {
      const nonEmpty = xs.filter(([s, e]) => e > s)
      const pairwise = nonEmpty.some((a, i) =>
        nonEmpty.some((b, j) => i !== j && Math.max(a[0], b[0]) < Math.min(a[1], b[1]))
      )
      return (overlaps(xs).count > 0) === pairwise
    }),
    { numRuns: 300 }
  )
})

S('shares reports fractions and the worst deviation from the mean', () => {
  const s = shares([100, 100, 80, 120])
  assert.equal(s.fractions, [0.25, 0.25, 0.2, 0.3])
  assert.is(s.maxDeviation, 0.2)
  assert.ok(Number.isNaN(shares([0, 0]).maxDeviation))
  assert.is(shares([5]).maxDeviation, 0)
})

S('contentionFigures combines the workers records on one timeline', () => {
  const f = contentionFigures(
    [
      { acquisitions: [[0, 0, 4], [6, 9, 10]], failures: [] },
      { acquisitions: [[1, 5, 9]], failures: [[10, 12]] }
    ],
    [0, 12]
  )
  assert.is(f.acquisitions, 3)
  assert.is(f.failures, 1)
  assert.is(f.rate, 250)
  // waiting: [0,0) [6,9) [1,5) [10,12) -> 2 + 3 + 4 = 9 ms contended, held during 3 + 3 = 6 ms of it
  assert.is(f.contendedMs, 9)
  assert.is(f.busyMs, 6)
  assert.equal(f.shares.counts, [2, 1])
  assert.is(f.overlaps.count, 0)
  assert.is(f.waitMs.max, 4)
  assert.is(f.holdMs.count, 3)
})

S('contentionFigures detects two workers inside the lock at once', () => {
  const f = contentionFigures(
    [
      { acquisitions: [[0, 0, 5]], failures: [] },
      { acquisitions: [[0, 3, 6]], failures: [] }
    ],
    [0, 6]
  )
  assert.equal(f.overlaps, { count: 1, worstMs: 2 })
})

S.run()
