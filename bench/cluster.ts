/**
 * `npm run bench -- --cluster`: leaselock on one Redis node (the baseline),
 * on a primary with a replica and `syncReplicas: 1`, and on a local 6-node
 * Redis Cluster (keys spread over its 3 masters, all on one master, and
 * spread with `syncReplicas: 1`), measured in one run with the same
 * scenarios as the default benchmark; every figure is also given as a ratio
 * to the one-node baseline of the same run.
 *
 * @since 0.1.0
 */
import type { Settings } from './args.js'
import { ContentionResult, contention } from './contention.js'
import { Contestant, clusterContestants } from './contestants.js'
import { Entry, table } from './report.js'
import { Entrant, LatencyFigures, Outcome, Progress, ThroughputFigures, latency, throughput } from './scenarios.js'
import { Servers } from './servers.js'
import { ratio } from './stats.js'

/**
 * What a `--cluster` run measured; this is `bench-cluster.json`.
 *
 * @since 0.1.0
 */
export interface ClusterResults {
  readonly generatedAt: string
  readonly settings: Settings
  readonly machine: Readonly<Record<string, string | number>>
  readonly servers: { readonly notes: ReadonlyArray<string>; readonly versions: Readonly<Record<string, string>> }
  readonly contestants: ReadonlyArray<Entry>
  /** The id every ratio is taken against: leaselock on one node. */
  readonly baseline: string
  readonly latency: Readonly<Record<string, Outcome<LatencyFigures>>>
  readonly throughput: Readonly<Record<string, Outcome<ThroughputFigures>>>
  readonly contention: Readonly<Record<string, Outcome<ContentionResult>>>
}

const figures = <A>(o: Outcome<A> | undefined): A | undefined => (o !== undefined && o.ok ? o.figures : undefined)

/**
 * Runs the scenarios for the `--cluster` contestants that could connect.
 *
 * @example
 * import { benchCluster } from './cluster.js'
 * import { startClusterServers } from './servers.js'
 * // const results = await benchCluster(settings, await startClusterServers(), machine, console.error)
 *
 * @since 0.1.0
 */
export const benchCluster = async (
  settings: Settings,
  servers: Servers,
  machine: Readonly<Record<string, string | number>>,
  progress: Progress
): Promise<ClusterResults> => {
  const prefix = `leaselock-bench:${Date.now().toString(36)}`
  const entrants: Array<Entrant> = []
  for (const c of clusterContestants) {
    try {
      entrants.push({ id: c.id, locker: await c.open(servers) })
    } catch (e) {
      progress(`  ${c.id}: could not connect: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  try {
    progress(`latency: ${settings.iterations} sequential pairs each, ${entrants.length} setups`)
    const lat = await latency(
      entrants,
      { iterations: settings.iterations, warmup: Math.min(500, Math.ceil(settings.iterations / 5)), rounds: Math.min(100, Math.max(10, Math.floor(settings.iterations / 100))), prefix },
      progress
    )
    progress(`throughput: ${settings.concurrency} concurrent lockers, ${settings.ops} pairs each`)
    const tp = await throughput(entrants, { concurrency: settings.concurrency, ops: settings.ops, rounds: 5, prefix }, progress)
    const cont: Record<string, Outcome<ContentionResult>> = {}
    for (const c of clusterContestants.filter((x: Contestant) => x.contends)) {
      progress(`contention: ${settings.workers} processes × ${settings.durationMs} ms on ${c.id}`)
      cont[c.id] = await contention(
        c.id,
        servers,
        { workers: settings.workers, holdMs: settings.holdMs, pauseMs: settings.pauseMs, durationMs: settings.durationMs, ttlMs: 5_000, timeoutMs: 10_000, prefix },
        progress
      )
    }
    return {
      generatedAt: new Date().toISOString(),
      settings,
      machine,
      servers: { notes: servers.notes, versions: servers.versions },
      contestants: clusterContestants.map(({ id, label, kind, backend, client }) => ({ id, label, kind, backend, client })),
      baseline: 'leaselock-redis',
      latency: lat,
      throughput: tp,
      contention: cont
    }
  } finally {
    await Promise.all(entrants.map((e) => e.locker.close().catch(() => undefined)))
  }
}

const us = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? '-' : String(Math.round(ms * 1000)))
const int = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US'))
const xr = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-')
const fx = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits))

/**
 * The tables of a `--cluster` run: latency and throughput of every setup with
 * its ratio to one node, and the contention figures.
 *
 * @example
 * import { renderCluster } from './cluster.js'
 * // renderCluster(results) -> multi-line text
 *
 * @since 0.1.0
 */
export const renderCluster = (r: ClusterResults): string => {
  const base = r.baseline
  const failed = (o: Outcome<unknown> | undefined): string => (o !== undefined && !o.ok ? `failed: ${o.error}` : '')
  const baseLatency = figures(r.latency[base])
  const baseThroughput = figures(r.throughput[base])
  const latencyTable = table(
    ['setup', 'p50 us', 'p99 us', 'mean us', 'p50 x one node', 'mean x one node', ''],
    r.contestants.map((e) => {
      const f = figures(r.latency[e.id])
      return [e.label, us(f?.p50), us(f?.p99), us(f?.mean), xr(ratio(f?.p50, baseLatency?.p50)), xr(ratio(f?.mean, baseLatency?.mean)), failed(r.latency[e.id])]
    }),
    1
  )
  const throughputTable = table(
    ['setup', 'pairs/s', 'p50 us', 'p99 us', 'x one node', ''],
    r.contestants.map((e) => {
      const f = figures(r.throughput[e.id])
      return [e.label, int(f?.opsPerSec), us(f?.latencyMs.p50), us(f?.latencyMs.p99), xr(ratio(f?.opsPerSec, baseThroughput?.opsPerSec)), failed(r.throughput[e.id])]
    }),
    1
  )
  const contenders = r.contestants.filter((e) => r.contention[e.id] !== undefined)
  const contentionTable = table(
    ['setup', 'busy %', 'wait p50 ms', 'p99 ms', 'max ms', 'shares per worker', 'overlaps', ''],
    contenders.map((e) => {
      const f = figures(r.contention[e.id])
      return [
        e.label,
        fx(f === undefined ? undefined : f.busy * 100, 1),
        fx(f?.waitMs.p50, 1),
        fx(f?.waitMs.p99, 1),
        fx(f?.waitMs.max, 1),
        f === undefined ? '-' : f.shares.counts.join('/'),
        f === undefined ? '-' : String(f.overlaps.count),
        failed(r.contention[e.id])
      ]
    }),
    1
  )
  const s = r.settings
  return [
    `leaselock scale-out benchmark, ${r.generatedAt}${s.quick ? ' (quick)' : ''}`,
    `machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...r.servers.notes.map((n) => `server ${n}`),
    '',
    `1. Uncontended acquire + release (${s.iterations} pairs each), against one node`,
    latencyTable,
    '',
    `2. Throughput (${s.concurrency} concurrent lockers on distinct keys, ${s.ops} pairs each), against one node`,
    throughputTable,
    '',
    `3. Contention and handoff (${s.workers} processes, one key, hold ${s.holdMs} ms, pause ${s.pauseMs} ms, ${s.durationMs} ms each)`,
    contentionTable
  ].join('\n')
}
