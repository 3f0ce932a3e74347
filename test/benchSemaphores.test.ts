import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { crowded, renderSemaphores, semaphoreFigures } from '../bench/semaphores.js'
import { summarize } from '../bench/stats.js'
import { clusterContestants, contestant, contestants, semaphoreContestants } from '../bench/contestants.js'

test('crowded: the stretches where at least n intervals overlap, and the most at once (touching ends do not overlap)', () => {
  assert.equal(crowded([[0, 4], [1, 3], [2, 6]], 2), { stretches: [[1, 4]], most: 3 })
  assert.equal(crowded([[0, 2], [2, 4]], 2), { stretches: [], most: 1 })
  assert.equal(crowded([], 1), { stretches: [], most: 0 })
})

test('semaphoreFigures: utilisation is the share of the waited time with every permit taken; a semaphore that let a fourth in shows it', () => {
  // limit 2: A holds [0, 10), B holds [0, 4), C waits [1, 6) and holds [6, 10): full only over [1, 4) of C's 5 ms wait.
  const f = semaphoreFigures(
    [
      { acquisitions: [[0, 0, 10]], failures: [] },
      { acquisitions: [[0, 0, 4]], failures: [] },
      { acquisitions: [[1, 6, 10]], failures: [] }
    ],
    [0, 10],
    2
  )
  assert.is(f.contendedMs, 5)
  assert.is(f.fullMs, 3)
  assert.is(f.utilisation, 0.6)
  assert.is(f.mostInside, 2)
  assert.is(f.acquisitions, 3)
  const broken = semaphoreFigures([{ acquisitions: [[0, 0, 5], [0, 0, 5], [0, 0, 5]], failures: [] }], [0, 5], 2)
  assert.is(broken.mostInside, 3)
})

test('renderSemaphores: throughput and wait p99 as ratios to redis-semaphore in the same run', () => {
  const figures = (rate: number, p99: number) => ({ ...semaphoreFigures([], [0, 1], 3), rate, waitMs: { ...summarize([1]), p99 } })
  const text = renderSemaphores({ 'leaselock-semaphore': { ok: true, figures: figures(300, 10) }, 'redis-semaphore-semaphore': { ok: true, figures: figures(100, 40) } })
  assert.match(text, /3\.00×/)
  assert.match(text, /0\.25×/)
  assert.match(renderSemaphores({}), /no Redis/)
})

test('an id names one contestant across the scenarios (the cluster table relabels one, with the same open), so a worker builds what its parent meant', () => {
  const all = [...contestants, ...clusterContestants, ...semaphoreContestants]
  for (const c of all) assert.is(contestant(c.id).open, c.open, c.id)
})

test.run()
