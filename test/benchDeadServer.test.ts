import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resultsChart } from '../bench/chart.js'
import { OutageSample, outageFigures } from '../bench/deadServer.js'
import { Results, deadServerTable, render, targets } from '../bench/report.js'
import { emptyResults } from './support/benchResults.js'

const S = suite('bench: a dead server')

const sample = (over: Partial<OutageSample> = {}): OutageSample => ({
  upMs: [0.1, 0.2, 0.3],
  downMs: [0.01, 0.02, 0.03, 0.04],
  answeredDown: 3,
  connects: 5,
  outageMs: 2_500,
  recoverMs: 400,
  backoffCapMs: 1_000,
  ...over
})

S('outageFigures: summaries, the down/up ratio, the share answered from the backoff, connects per second, recovery over the step', () => {
  const f = outageFigures(sample())
  assert.is(f.upCallMs.p50, 0.2)
  assert.is(f.downCallMs.p50, 0.02)
  assert.ok(Math.abs(f.downP50XUp - 0.1) < 1e-12)
  assert.is(f.answeredDownShare, 0.75)
  assert.is(f.connectsPerSecond, 2)
  assert.is(f.recoverXBackoffCap, 0.4)
  const none = outageFigures(sample({ downMs: [], outageMs: 0, recoverMs: Number.NaN }))
  assert.ok(Number.isNaN(none.answeredDownShare) && Number.isNaN(none.connectsPerSecond) && Number.isNaN(none.recoverXBackoffCap))
})

const results = (deadServer: Results['deadServer']): Results => emptyResults(deadServer === undefined ? {} : { deadServer })

S('targets: connection attempts, a call while down, recovery within one step; met, missed and not measured', () => {
  const t = targets(
    results({
      redis: { ok: true, figures: outageFigures(sample()) },
      memcached: { ok: true, figures: outageFigures(sample({ connects: 25_000, downMs: [0.5, 3], recoverMs: 1_500 })) },
      broken: { ok: false, error: 'boom' }
    })
  )
  const met = (name: string) => t.find((x) => x.name === name)?.met
  assert.is(met('Dead redis: connection attempts'), true)
  assert.is(met('Dead redis: a call while down'), true)
  assert.is(met('Dead redis: recovery'), true)
  assert.is(met('Dead memcached: connection attempts'), false)
  assert.is(met('Dead memcached: a call while down'), false)
  assert.is(met('Dead memcached: recovery'), false)
  assert.is(met('Dead broken: recovery'), null)
  assert.is(t.find((x) => x.name === 'Dead memcached: connection attempts')?.measured, '10000.0/s')
  assert.is(targets(results(undefined)).filter((x) => x.name.startsWith('Dead')).length, 0)
})

S('the dead-server table, section and chart panel', () => {
  assert.is(deadServerTable({}), undefined)
  const text = deadServerTable({ redis: { ok: true, figures: outageFigures(sample()) }, memcached: { ok: false, error: 'boom' } }) ?? ''
  const [, , redis, memcached] = text.split('\n')
  assert.match(redis ?? '', /^redis +200 +20\.0 +40\.0 +0\.10x +75\.0 +2\.0 +400 +1000$/)
  assert.match(memcached ?? '', /failed: boom$/)
  assert.match(render(results({ redis: { ok: true, figures: outageFigures(sample()) } })), /8\. A dead server \(killed for 2500 ms/)
  const chart = resultsChart(results({ redis: { ok: true, figures: outageFigures(sample()) } }))
  assert.match(chart, /A dead server/)
  assert.match(chart, /2\.0 connects\/s, back in 400 ms/)
  assert.not.match(chart, /NaN/)
})

S.run()
