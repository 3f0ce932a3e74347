import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseSettings } from '../bench/args.js'
import { niceStep, resultsChart } from '../bench/chart.js'
import type { ContentionResult } from '../bench/contention.js'
import { Results, ratios, render, table, targets } from '../bench/report.js'
import type { LatencyFigures } from '../bench/scenarios.js'
import { contentionFigures, summarize } from '../bench/stats.js'
import { emptyResults } from './support/benchResults.js'

const S = suite('bench report')

const latencyOf = (samplesMs: number[]): { ok: true; figures: LatencyFigures } => {
  const s = summarize(samplesMs)
  return { ok: true, figures: { ...s, opsPerSec: 1000 / s.mean } }
}

const contended = (counts: number[], overlapping: boolean): { ok: true; figures: ContentionResult } => {
  // each worker w holds [10k + w*3, 10k + w*3 + 2) after waiting 1 ms
  const records = counts.map((n, w) => ({
    acquisitions: Array.from({ length: n }, (_, k): [number, number, number] => {
      const start = 100 * k + w * 3
      return [start - 1, start, start + (overlapping ? 4 : 2)]
    }),
    failures: []
  }))
  return { ok: true, figures: { ...contentionFigures(records, [0, 100 * Math.max(...counts)]), run: { workers: counts.length, holdMs: 2, pauseMs: 1, durationMs: 1000 } } }
}

const results = (over: Partial<Results> = {}): Results =>
  emptyResults({
    servers: { notes: ['redis: own'], versions: {} },
    libraries: { redis: '6' },
    contestants: [
      { id: 'leaselock-redis', label: 'leaselock redis', kind: 'ours', backend: 'redis', client: 'node-redis', floor: 'raw-node-redis' },
      { id: 'raw-node-redis', label: 'raw node-redis', kind: 'floor', backend: 'redis', client: 'node-redis' },
      { id: 'redlock', label: 'redlock <5>', kind: 'peer', backend: 'redis', client: 'ioredis', floor: 'raw-ioredis' }
    ],
    latency: {
      'leaselock-redis': latencyOf([0.105, 0.105, 0.105]),
      'raw-node-redis': latencyOf([0.1, 0.1, 0.1]),
      redlock: { ok: false, error: 'boom' }
    },
    throughput: {},
    contention: { 'leaselock-redis': contended([10, 10, 10, 10], false), redlock: contended([5, 15], false) },
    ...over
  })

S('parseSettings: defaults, --quick, backend subsets in a fixed order', () => {
  const full = parseSettings([])
  assert.ok(full !== 'help')
  assert.equal(full.backends, ['memory', 'redis', 'memcached'])
  assert.is(full.iterations, 10000)
  assert.is(full.workers, 4)
  assert.is(full.holdMs, 2)
  assert.is(full.pauseMs, 1)
  assert.is(full.outDir, 'bench/results')
  const quick = parseSettings(['--quick', '--backend', 'memcached,memory', '--workers', '3', '--hold', '0', '--out', 'x'])
  assert.ok(quick !== 'help')
  assert.equal(quick.backends, ['memory', 'memcached'])
  assert.is(quick.iterations, 500)
  assert.is(quick.durationMs, 1500)
  assert.is(quick.workers, 3)
  assert.is(quick.holdMs, 0)
  assert.is(quick.outDir, 'x')
  assert.is(parseSettings(['--help']), 'help')
})

S('parseSettings refuses bad values with a message', () => {
  assert.throws(() => parseSettings(['--backend', 'etcd']), /--backend/)
  assert.throws(() => parseSettings(['--workers', '0']), /--workers needs an integer/)
  assert.throws(() => parseSettings(['--iterations', '1.5']), /--iterations/)
  assert.throws(() => parseSettings(['--nope']))
})

S('table right-aligns figures and left-aligns text columns', () => {
  assert.is(table(['name', 'n'], [['a', '10'], ['bb', '2']], 1), 'name   n\n----  --\na     10\nbb     2')
})

S('ratios compare with the own floor and with raw node-redis', () => {
  const r = ratios(results())
  assert.ok(Math.abs((r['leaselock-redis']?.latencyP50XFloor ?? 0) - 1.05) < 1e-9)
  assert.ok(Math.abs((r['raw-node-redis']?.latencyP50XNodeRedis ?? 0) - 1) < 1e-9)
  assert.ok(Number.isNaN(r.redlock?.latencyP50XFloor))
})

S('targets: met, missed and not measured', () => {
  const t = targets(results())
  const byName = (name: string) => t.find((x) => x.name === name)
  assert.is(byName('Redis acquire+release vs raw node-redis')?.met, true)
  assert.is(byName('Memcached acquire+release vs raw memjs')?.met, null)
  assert.is(byName('Redis contention: shares')?.met, true)
  assert.is(byName('Overlaps, every contestant')?.met, true)
  const slow = targets(results({ latency: { 'leaselock-redis': latencyOf([0.2]), 'raw-node-redis': latencyOf([0.1]) } }))
  assert.is(slow[0]?.met, false)
  const unfair = targets(results({ contention: { 'leaselock-redis': contended([5, 15], true) } }))
  assert.is(unfair.find((x) => x.name === 'Redis contention: shares')?.met, false)
  assert.is(unfair.find((x) => x.name === 'Overlaps, every contestant')?.met, false)
})

S('render prints every section, failures and verdicts', () => {
  const text = render(results())
  assert.match(text, /1-3\. Uncontended acquire \+ release latency/)
  assert.match(text, /leaselock redis \*/)
  assert.match(text, /failed: boom/)
  assert.match(text, /1\.05x/)
  assert.match(text, /not measured/)
  assert.match(text, /busy %/)
})

S('niceStep picks 1, 2 or 5 times a power of ten', () => {
  assert.is(niceStep(100, 5), 20)
  assert.is(niceStep(230, 5), 50)
  assert.is(niceStep(0.9, 5), 0.2)
  assert.is(niceStep(0, 5), 1)
})

S('resultsChart draws labelled panels and escapes text', () => {
  const chart = resultsChart(results())
  assert.ok(chart.startsWith('<svg'))
  assert.ok(chart.trimEnd().endsWith('</svg>'))
  assert.match(chart, /Uncontended acquire \+ release latency/)
  assert.match(chart, /Contention: 4 processes/)
  assert.match(chart, /redlock &lt;5&gt;/)
  assert.match(chart, /target 80%/)
  assert.match(chart, /not measured/)
  assert.not.match(chart, /NaN/)
})

S.run()
