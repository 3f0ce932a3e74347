import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { available } from '../bench/contestants.js'
import { quorumSummary, quorumTable } from '../bench/quorumReport.js'
import { Results, render } from '../bench/report.js'
import { summarize } from '../bench/stats.js'
import { emptyResults } from './support/benchResults.js'

const latency = (ms: number) => {
  const s = summarize([ms, ms, ms])
  return { ok: true as const, figures: { ...s, opsPerSec: 1000 / s.mean } }
}
const throughput = (opsPerSec: number) => ({
  ok: true as const,
  figures: { concurrency: 64, ops: 100, elapsedMs: 1, opsPerSec, latencyMs: summarize([1]) }
})

const results = (over: Partial<Results> = {}): Results =>
  emptyResults({
    contestants: [
      { id: 'leaselock-redis', label: 'leaselock redis', kind: 'ours', backend: 'redis', client: 'node-redis', floor: 'raw-node-redis' },
      { id: 'leaselock-quorum', label: 'leaselock quorum x3', kind: 'ours', backend: 'redis', client: 'node-redis' },
      { id: 'leaselock-quorum-nofence', label: 'leaselock quorum x3, fencing off', kind: 'ours', backend: 'redis', client: 'node-redis' },
      { id: 'redlock-quorum', label: 'redlock 5 x3', kind: 'peer', backend: 'redis', client: 'ioredis' }
    ],
    latency: {
      'leaselock-redis': latency(0.1),
      'leaselock-quorum': latency(0.4),
      'leaselock-quorum-nofence': latency(0.2),
      'redlock-quorum': latency(0.25)
    },
    throughput: { 'leaselock-quorum': throughput(2000), 'redlock-quorum': throughput(3000) },
    contention: {},
    ...over
  })

test('quorum summary: the price of the quorum, of fencing, and ours against node-redlock on the same servers', () => {
  const s = quorumSummary(results())
  const round = (o: Readonly<Record<string, number>>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]))
  assert.equal(round(s.priceOfQuorum), { p50: 4, mean: 4 })
  assert.equal(round(s.priceOfFencing), { p50: 2, mean: 2 })
  assert.equal(round(s.versusRedlock), { p50: 1.6, mean: 1.6, p50NoFence: 0.8, meanNoFence: 0.8 })
  assert.is(s.throughputCostVersusRedlock, 1.5)
  assert.ok(Number.isNaN(quorumSummary({ latency: {}, throughput: {} }).priceOfQuorum.p50), 'NaN when not measured')
})

test('quorum table: ours, fencing off, node-redlock and one server side by side; absent when no quorum ran', () => {
  const text = quorumTable(results()) ?? ''
  const row = (label: string): string => text.split('\n').find((l) => l.startsWith(label)) ?? ''
  assert.match(row('leaselock quorum x3 *'), /400\s+400\s+4\.00\s+1\.60\s+2000/)
  assert.match(row('redlock 5 x3'), /250\s+250\s+2\.50\s+1\.00\s+3000/)
  assert.match(render(results()), '6. Quorum leases over 3 independent Redis servers')
  const single = results({ contestants: results().contestants.slice(0, 1) })
  assert.is(quorumTable(single), undefined)
  assert.not.match(render(single), '6. Quorum')
})

test('the quorum contestants run only when the three quorum servers are up', () => {
  const ids = (e: Parameters<typeof available>[1]) => available(['redis'], e).map((c) => c.id)
  assert.not.ok(ids({ redisUrl: 'redis://a' }).includes('leaselock-quorum'))
  assert.ok(ids({ redisUrl: 'redis://a', quorumUrls: ['redis://b', 'redis://c', 'redis://d'] }).includes('redlock-quorum'))
  assert.not.ok(ids({ quorumUrls: ['redis://b', 'redis://c', 'redis://d'] }).includes('leaselock-redis'))
})

test.run()
