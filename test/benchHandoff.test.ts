import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resultsChart } from '../bench/chart.js'
import type { ContentionResult } from '../bench/contention.js'
import { HandoffRound, HandoffRun, handoffMet, handoffRatios, median, runMedians, runRatios, serverWork } from '../bench/handoff.js'
import { Results, handoffProfileTable, handoffTable, render, targets } from '../bench/report.js'
import { contentionFigures, handoffProfile } from '../bench/stats.js'
import type { Outcome } from '../bench/scenarios.js'
import { emptyResults } from './support/benchResults.js'

const S = suite('bench: handoff against the ring floor')

/**
 * A contention run of `workers` processes taking turns on one key: each holds
 * 2 ms; the next one starts waiting 1 ms before the release and gets the key
 * `gapMs` after it (the lock's idle time). So each wait lasts 1 + gap ms, and
 * the lock is busy 1 / (1 + gap) of the contended time.
 */
const turns = (workers: number, gapMs: number): Outcome<ContentionResult> => {
  const records = Array.from({ length: workers }, () => ({ acquisitions: [] as Array<[number, number, number]>, failures: [] }))
  let t = 0
  for (let k = 0; k < 200; k++) {
    const acquiredAt = t + gapMs
    records[k % workers]!.acquisitions.push([t - 1, acquiredAt, acquiredAt + 2])
    t = acquiredAt + 2
  }
  return { ok: true, figures: { ...contentionFigures(records, [-1, t]), run: { workers, holdMs: 2, pauseMs: 1, durationMs: t } } }
}

const round = (workers: number, oursGap: number, floorGap: number): HandoffRound => ({ ours: turns(workers, oursGap), floor: turns(workers, floorGap) })
/** A run of one round. */
const run = (workers: number, oursGap: number, floorGap: number): HandoffRun => ({ workers, rounds: [round(workers, oursGap, floorGap)] })

S('handoffRatios: our busy share and wait p99 over the ring floor\'s, from the same kind of figures', () => {
  const same = handoffRatios(round(4, 0.5, 0.5))
  assert.ok(Math.abs(same.busyXFloor - 1) < 1e-9 && Math.abs(same.waitP99XFloor - 1) < 1e-9, JSON.stringify(same))
  const slower = handoffRatios(round(4, 1, 0.5))
  // busy 1/2 against 1/1.5; waits of 2 ms against 1.5 ms
  assert.ok(Math.abs(slower.busyXFloor - 0.75) < 1e-9, String(slower.busyXFloor))
  assert.ok(Math.abs(slower.waitP99XFloor - 2 / 1.5) < 1e-9, String(slower.waitP99XFloor))
  const failed = handoffRatios({ ours: { ok: false, error: 'boom' }, floor: turns(8, 0.5) })
  assert.ok(Number.isNaN(failed.busyXFloor) && Number.isNaN(failed.waitP99XFloor))
})

S('a run of rounds: medians of the figures and of the ratios, with the lowest and highest round; failed rounds left out', () => {
  assert.ok(Number.isNaN(median([])))
  assert.is(median([5, 1, 3]), 3)
  assert.is(median([4, 2, 1, 3]), 2.5)
  const three: HandoffRun = { workers: 4, rounds: [round(4, 1, 0.5), round(4, 0.5, 0.5), round(4, 2, 0.5), { ours: { ok: false, error: 'boom' }, floor: turns(4, 0.5) }] }
  const { median: mid, lowest, highest } = runRatios(three)
  // busy ratios (1 + 0.5) / (1 + gap): 0.75, 1 and 0.5; p99 ratios their inverses
  assert.ok(Math.abs(mid.busyXFloor - 0.75) < 1e-9 && Math.abs(lowest.busyXFloor - 0.5) < 1e-9 && Math.abs(highest.busyXFloor - 1) < 1e-9)
  assert.ok(Math.abs(mid.waitP99XFloor - 2 / 1.5) < 1e-9 && Math.abs(highest.waitP99XFloor - 2) < 1e-9)
  const m = runMedians(three)
  // (the first wait starts at the window's start: busy is a little below 1 / (1 + gap))
  assert.ok(Math.abs(m.oursBusy - 0.5) < 0.01, String(m.oursBusy))
  assert.ok(Math.abs(m.floorBusy - 1 / 1.5) < 0.01 && Math.abs(m.oursP99 - 2) < 1e-9 && Math.abs(m.floorP99 - 1.5) < 1e-9)
  assert.ok(Number.isNaN(runRatios({ workers: 4, rounds: [] }).median.busyXFloor))
})

S('handoffMet: both goals, at their bounds; null when not measured', () => {
  assert.is(handoffMet({ busyXFloor: 0.95, waitP99XFloor: 1.5 }), true)
  assert.is(handoffMet({ busyXFloor: 0.949, waitP99XFloor: 1 }), false)
  assert.is(handoffMet({ busyXFloor: 1, waitP99XFloor: 1.51 }), false)
  assert.is(handoffMet({ busyXFloor: 1, waitP99XFloor: Number.NaN }), null)
})

const results = (handoff: ReadonlyArray<HandoffRun>): Results => emptyResults({ handoff })

S('targets: one busy and one p99 target per process count, met or missed', () => {
  const t = targets(results([run(4, 0.5, 0.5), run(8, 2, 0.5)]))
  const byName = (name: string) => t.find((x) => x.name === name)
  assert.is(byName('Handoff, 4 processes: busy vs the ring floor')?.met, true)
  assert.is(byName('Handoff, 4 processes: wait p99 vs the ring floor')?.met, true)
  assert.is(byName('Handoff, 8 processes: busy vs the ring floor')?.met, false)
  assert.is(byName('Handoff, 8 processes: wait p99 vs the ring floor')?.measured, '2.000x')
  assert.is(targets(results([])).filter((x) => x.name.startsWith('Handoff')).length, 0)
})

S('the handoff table, section and chart panel', () => {
  assert.is(handoffTable([]), undefined)
  const text = handoffTable([run(4, 1, 0.5), { workers: 8, rounds: [{ ours: { ok: false, error: 'boom' }, floor: turns(8, 0.5) }] }]) ?? ''
  const [, , four, eight] = text.split('\n')
  assert.match(four ?? '', /^4 +1 .* 0\.750x +0\.750-0\.750 .* 1\.333x +1\.333-1\.333 +MISSED$/)
  assert.match(eight ?? '', /^8 +1 \(1 failed\) .* not measured$/)
  assert.match(render(results([run(4, 0.5, 0.5)])), /7\. Handoff against its floor, the raw ring/)
  const chart = resultsChart(results([run(4, 1, 0.5)]))
  assert.match(chart, /Handoff against its floor/)
  assert.match(chart, /0\.750x busy, 1\.33x p99/)
  assert.not.match(chart, /NaN/)
})

S('handoffProfile: only acquisitions whose taker waited at the release call; notices before the release are not this handoff\'s', () => {
  const p = handoffProfile(
    [
      // holds [0, 2) and [10, 12); its release calls return 0.3 ms later
      { acquisitions: [[0, 0, 2], [9, 10, 12]], failures: [], releaseDone: [2.3, 12.3], notified: [Number.NaN, Number.NaN] },
      // waiting since 1, heard at 2.4, took the key at 2.5 (a handoff); then asked at 13, after the release at 12 (not one)
      { acquisitions: [[1, 2.5, 4.5], [13, 13, 15]], failures: [], releaseDone: [4.9, 15.2], notified: [2.4, Number.NaN] },
      // waiting since 4, heard at 1 (an older notice), took the key at 5.5 (a handoff without a notice of its own)
      { acquisitions: [[4, 5.5, 7]], failures: [], releaseDone: [7.1], notified: [1] }
    ],
    [0, 14]
  )
  assert.is(p.handoffs, 2)
  assert.equal([p.idleMs.min, p.idleMs.max], [0.5, 1])
  assert.ok(Math.abs(p.releaseMs.mean - 0.35) < 1e-9, String(p.releaseMs.mean))
  assert.is(p.toNoticeMs.count, 1)
  assert.ok(Math.abs(p.toNoticeMs.p50 - 0.4) < 1e-9 && Math.abs(p.noticeToAcquiredMs.p50 - 0.1) < 1e-9)
  assert.is(handoffProfile([], [0, 1]).handoffs, 0)
})

S('serverWork sums the commands and the scripts of INFO commandstats, leaving out the bench\'s own INFO and CONFIG', () => {
  const text = [
    '# Commandstats',
    'cmdstat_evalsha:calls=10,usec=300,usec_per_call=30.00,rejected_calls=0,failed_calls=1',
    'cmdstat_eval:calls=1,usec=100,usec_per_call=100.00,rejected_calls=0,failed_calls=0',
    'cmdstat_publish:calls=4,usec=8,usec_per_call=2.00,rejected_calls=0,failed_calls=0',
    'cmdstat_config|resetstat:calls=1,usec=20,usec_per_call=20.00,rejected_calls=0,failed_calls=0',
    'cmdstat_info:calls=2,usec=50,usec_per_call=25.00,rejected_calls=0,failed_calls=0'
  ].join('\r\n')
  assert.equal(serverWork(text), { commands: 15, scripts: 11, scriptUsec: 400 })
  assert.equal(serverWork(''), { commands: 0, scripts: 0, scriptUsec: 0 })
})

S('the profile table: one row per contestant and process count that has a profile, with the server work per acquisition', () => {
  const profiled = (workers: number, gap: number): HandoffRound['ours'] => {
    const o = turns(workers, gap)
    if (!o.ok) throw new Error('unreachable')
    return { ok: true, figures: { ...o.figures, profile: handoffProfile([{ acquisitions: [[0, 0, 2], [1, 2 + gap, 4]], failures: [], releaseDone: [2.5, 4.5], notified: [Number.NaN, 2] }], [0, 10]) } }
  }
  assert.is(handoffProfileTable([run(4, 1, 0.5)]), undefined, 'no profile, no table')
  const o = profiled(4, 1)
  const acquisitions = o.ok ? o.figures.acquisitions : 0
  const text = handoffProfileTable([{ workers: 4, rounds: [{ ours: o, floor: { ok: false, error: 'boom' }, oursServer: { commands: 4 * acquisitions, scripts: 3 * acquisitions, scriptUsec: 30 * acquisitions } }] }]) ?? ''
  const lines = text.split('\n')
  assert.is(lines.length, 3, text)
  assert.match(lines[2] ?? '', /^ours x4 +1 +1\.000 \/ 1\.000 +0\.500 \/ 0\.500 +0\.000 \/ 0\.000 +1\.000 \/ 1\.000 +3\.0 +4\.0 +30$/)
})

S.run()
