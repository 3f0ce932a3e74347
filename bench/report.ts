/**
 * The benchmark's results as one value, the targets checked against them, and
 * the plain-text tables printed on stdout (all pure).
 *
 * @since 0.1.0
 */
import type { Settings } from './args.js'
import type { ContentionResult } from './contention.js'
import { HANDOFF_TARGETS, HandoffRound, HandoffRun, ServerWork, handoffMet, runMedians, runRatios } from './handoff.js'
import type { OutageFigures } from './deadServer.js'
import type { Backend, Kind } from './locker.js'
import { quorumTable } from './quorumReport.js'
import type { LatencyFigures, Outcome, ThroughputFigures } from './scenarios.js'
import { ratio } from './stats.js'

/**
 * A contestant as the results describe it.
 *
 * @since 0.1.0
 */
export interface Entry {
  readonly id: string
  readonly label: string
  readonly kind: Kind
  readonly backend: Backend
  readonly client: string
  readonly floor?: string
}

/**
 * A target from the issues, checked against this run.
 *
 * @since 0.1.0
 */
export interface Target {
  readonly name: string
  readonly goal: string
  readonly measured: string
  /** `null` when this run could not measure it. */
  readonly met: boolean | null
}

/**
 * Everything one run measured; this is the JSON file.
 *
 * @since 0.1.0
 */
export interface Results {
  readonly generatedAt: string
  readonly settings: Settings
  readonly machine: Readonly<Record<string, string | number>>
  readonly servers: { readonly notes: ReadonlyArray<string>; readonly versions: Readonly<Record<string, string>> }
  readonly libraries: Readonly<Record<string, string>>
  readonly contestants: ReadonlyArray<Entry>
  readonly latency: Readonly<Record<string, Outcome<LatencyFigures>>>
  readonly throughput: Readonly<Record<string, Outcome<ThroughputFigures>>>
  readonly contention: Readonly<Record<string, Outcome<ContentionResult>>>
  /** Ours against the raw handoff ring, per process count (absent in runs before it existed). */
  readonly handoff?: ReadonlyArray<HandoffRun>
  /** Each backend killed and restarted, by backend (absent in runs before it existed). */
  readonly deadServer?: Readonly<Record<string, Outcome<OutageFigures>>>
  readonly definitions: Readonly<Record<string, string>>
}

/**
 * What each figure means, written into the JSON and under the tables.
 *
 * @example
 * import { definitions } from './report.js'
 * assert.ok(definitions.busy.includes('waiting'))
 *
 * @since 0.1.0
 */
export const definitions = {
  latency:
    'Uncontended acquire + release, one pair at a time on one key, after a warm-up; contestants interleaved in rounds. ' +
    'Percentiles are nearest-rank. ops/s = 1000 / mean.',
  floor:
    'The raw client doing only the round trips a safe lock needs, with a fresh 128-bit token: ' +
    'node-redis and ioredis SET NX PX + EVALSHA compare-and-delete; memjs binary ADD + DELETE with the CAS from ADD.',
  ratio: 'x floor = the figure divided by the same figure of its client\'s floor (latency), or floor ops/s divided by its ops/s (throughput); 1.00 = no overhead.',
  throughput: 'N concurrent lockers in one process, each on its own key, over one client, until the fixed number of pairs is done.',
  busy:
    'Contention busy %: of the time inside the window when at least one worker was waiting for the lock ' +
    '(from calling acquire to getting it or giving up), the share during which some worker was inside its critical ' +
    'section (from acquire resolving to calling release). 100% = the lock never sat free while someone wanted it.',
  wait: 'Wait: per attempt, from calling acquire until it resolved (with the lock, or giving up).',
  hold: 'Hold: the mean measured critical section (a timer of --hold ms; Node timers fire on millisecond ticks).',
  shares: 'Shares: acquisitions per worker; max dev = largest |count - mean| / mean.',
  overlaps: 'Overlaps: critical sections of different workers that intersect on the machine\'s shared monotonic clock (process.hrtime); must be 0.',
  quorum:
    'Quorum: three more redis-server processes, used by leaselock\'s quorumStore (node-redis, redisNode) and node-redlock 5 (ioredis) alike; ' +
    'x 1 server = mean latency over leaselock on the single Redis; fencing off skips the two counter round trips.',
  deadServer:
    'Dead server: leaselock on a Redis node and on a Memcached server of their own, each killed (SIGKILL) and restarted on the same ' +
    'port. Calls are tryAcquire, one at a time with 1 ms between; while down = during the outage; from backoff = answered with the ' +
    "driver's server-down cause (no socket); connects/s = TCP connections this process started to that port per second of outage; " +
    'back after = from the restarted server answering PING until the lock is taken again.',
  handoff:
    'Handoff floor: the raw handoff ring (node-redis, no leaselock code): the key names the process whose turn it is, and the ' +
    "holder's one script checks it, sets it to the next process and PUBLISHes to that process's channel. It runs as the contention " +
    'scenario does (same processes, hold and pause), back to back with leaselock on Redis, with 4 and 8 processes; x floor = our busy % ' +
    'or wait p99 divided by the ring\'s. Profile: a handoff is an acquisition whose taker was waiting when the previous holder called ' +
    'release; idle = release call to the next acquire resolving; release = the old holder\'s release round trip; to notice = release call ' +
    'to the next holder hearing of it (leaselock\'s leaselock:handoff event, the ring\'s turn message); notice to acquired = from then to ' +
    'its acquire resolving; server counters are reset at the common start and read after the run.'
} as const

const ok = <A>(o: Outcome<A> | undefined): A | undefined => (o !== undefined && o.ok ? o.figures : undefined)

/**
 * `value / floor` of a latency statistic, for `id` against its floor (or another contestant).
 *
 * @example
 * import { latencyRatio } from './report.js'
 * latencyRatio({}, 'a', 'b', 'p50')
 *
 * @since 0.1.0
 */
export const latencyRatio = (
  latency: Results['latency'],
  id: string,
  base: string | undefined,
  stat: 'p50' | 'p99' | 'mean'
): number => (base === undefined ? Number.NaN : ratio(ok(latency[id])?.[stat], ok(latency[base])?.[stat]))

/**
 * Floor ops/s divided by `id`'s ops/s: how many times the floor's cost `id` pays.
 *
 * @example
 * import { throughputRatio } from './report.js'
 * throughputRatio({}, 'a', 'b')
 *
 * @since 0.1.0
 */
export const throughputRatio = (throughput: Results['throughput'], id: string, base: string | undefined): number =>
  base === undefined ? Number.NaN : ratio(ok(throughput[base])?.opsPerSec, ok(throughput[id])?.opsPerSec)

/**
 * Every contestant's ratios: latency (p50, mean) and throughput cost against its
 * own client's floor and against raw node-redis (Redis contestants).
 *
 * @example
 * import { ratios } from './report.js'
 * assert.deepStrictEqual(ratios({ contestants: [], latency: {}, throughput: {} }), {})
 *
 * @since 0.1.0
 */
export const ratios = (
  r: Pick<Results, 'contestants' | 'latency' | 'throughput'>
): Record<string, Readonly<Record<string, number>>> =>
  Object.fromEntries(
    r.contestants.map((e) => {
      const nodeRedis = e.backend === 'redis' ? 'raw-node-redis' : undefined
      return [
        e.id,
        {
          latencyP50XFloor: latencyRatio(r.latency, e.id, e.floor, 'p50'),
          latencyMeanXFloor: latencyRatio(r.latency, e.id, e.floor, 'mean'),
          latencyP50XNodeRedis: latencyRatio(r.latency, e.id, nodeRedis, 'p50'),
          latencyMeanXNodeRedis: latencyRatio(r.latency, e.id, nodeRedis, 'mean'),
          throughputCostXFloor: throughputRatio(r.throughput, e.id, e.floor),
          throughputCostXNodeRedis: throughputRatio(r.throughput, e.id, nodeRedis)
        }
      ]
    })
  )

const OURS_REDIS = 'leaselock-redis'
const OURS_MEMCACHED = 'leaselock-memcached'
const OURS_IOREDIS = 'leaselock-ioredis'

/** Issue 13's bound on connection attempts to a dead server (memjs made 7,500-10,500 a second before it backed off). */
const DEAD_CONNECTS_PER_SECOND = 10
/** A call to a dead server answered from the driver's state: no wait, no connection (a round trip on loopback takes about 0.1 ms). */
const DEAD_CALL_P99_MS = 1

const fx = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '-')

/**
 * The targets of issues 5, 7, 13 and 15, checked against a run.
 *
 * @example
 * import { targets } from './report.js'
 * const r = { latency: {}, throughput: {}, contention: {} }
 * assert.ok(targets(r).every((t) => t.met === null))
 *
 * @since 0.1.0
 */
export const targets = (r: Pick<Results, 'latency' | 'throughput' | 'contention' | 'handoff' | 'deadServer'>): ReadonlyArray<Target> => {
  const floorTarget = (id: string, floor: string, name: string): Target => {
    const p50 = latencyRatio(r.latency, id, floor, 'p50')
    const mean = latencyRatio(r.latency, id, floor, 'mean')
    return {
      name,
      goal: '<= 1.10x floor (p50 and mean)',
      measured: `p50 ${fx(p50)}x, mean ${fx(mean)}x`,
      met: Number.isFinite(p50) && Number.isFinite(mean) ? p50 <= 1.1 && mean <= 1.1 : null
    }
  }
  const c = ok(r.contention[OURS_REDIS])
  const contended = Object.entries(r.contention).flatMap(([id, o]) => (o.ok ? [[id, o.figures] as const] : []))
  return [
    floorTarget(OURS_REDIS, 'raw-node-redis', 'Redis acquire+release vs raw node-redis'),
    floorTarget(OURS_MEMCACHED, 'raw-memjs', 'Memcached acquire+release vs raw memjs'),
    floorTarget(OURS_IOREDIS, 'raw-ioredis', 'Redis (ioredis) acquire+release vs raw ioredis'),
    {
      name: 'Redis contention: busy',
      goal: '>= 80%',
      measured: c === undefined ? '-' : `${fx(c.busy * 100, 1)}%`,
      met: c === undefined ? null : c.busy >= 0.8
    },
    {
      name: 'Redis contention: wait p99',
      goal: '<= 15 ms',
      measured: c === undefined ? '-' : `${fx(c.waitMs.p99, 1)} ms`,
      met: c === undefined ? null : c.waitMs.p99 <= 15
    },
    {
      name: 'Redis contention: shares',
      goal: 'every worker within +-10% of the mean',
      measured: c === undefined ? '-' : `${c.shares.counts.join('/')} (max dev ${fx(c.shares.maxDeviation * 100, 1)}%)`,
      met: c === undefined ? null : c.shares.maxDeviation <= 0.1
    },
    ...(r.handoff ?? []).flatMap((run): ReadonlyArray<Target> => {
      const x = runRatios(run).median
      return [
        {
          name: `Handoff, ${run.workers} processes: busy vs the ring floor`,
          goal: `>= ${fx(HANDOFF_TARGETS.busyXFloor)}x floor (median of ${run.rounds.length} rounds)`,
          measured: `${fx(x.busyXFloor, 3)}x`,
          met: Number.isFinite(x.busyXFloor) ? x.busyXFloor >= HANDOFF_TARGETS.busyXFloor : null
        },
        {
          name: `Handoff, ${run.workers} processes: wait p99 vs the ring floor`,
          goal: `<= ${fx(HANDOFF_TARGETS.waitP99XFloor)}x floor (median of ${run.rounds.length} rounds)`,
          measured: `${fx(x.waitP99XFloor, 3)}x`,
          met: Number.isFinite(x.waitP99XFloor) ? x.waitP99XFloor <= HANDOFF_TARGETS.waitP99XFloor : null
        }
      ]
    }),
    ...Object.entries(r.deadServer ?? {}).flatMap(([backend, o]): ReadonlyArray<Target> => {
      const f = ok(o)
      return [
        {
          name: `Dead ${backend}: connection attempts`,
          goal: `<= ${DEAD_CONNECTS_PER_SECOND} per second`,
          measured: f === undefined ? '-' : `${fx(f.connectsPerSecond, 1)}/s`,
          met: f === undefined ? null : f.connectsPerSecond <= DEAD_CONNECTS_PER_SECOND
        },
        {
          name: `Dead ${backend}: a call while down`,
          goal: `answered at once: p99 <= ${DEAD_CALL_P99_MS} ms`,
          measured: f === undefined ? '-' : `p99 ${fx(f.downCallMs.p99, 3)} ms (p50 ${fx(f.downP50XUp)}x a call while up)`,
          met: f === undefined ? null : f.downCallMs.p99 <= DEAD_CALL_P99_MS
        },
        {
          name: `Dead ${backend}: recovery`,
          goal: 'within one backoff step',
          measured: f === undefined ? '-' : `${int(f.recoverMs)} ms (step ${int(f.backoffCapMs)} ms)`,
          met: f === undefined ? null : f.recoverMs <= f.backoffCapMs
        }
      ]
    }),
    {
      name: 'Overlaps, every contestant',
      goal: '0',
      measured: contended.length === 0 ? '-' : contended.map(([id, f]) => `${id} ${f.overlaps.count}`).join(', '),
      met: contended.length === 0 ? null : contended.every(([, f]) => f.overlaps.count === 0)
    }
  ]
}

/**
 * Lays out rows under a header: text columns left-aligned, the others right-aligned.
 *
 * @example
 * import { table } from './report.js'
 * assert.strictEqual(table(['a', 'n'], [['x', '1']], 1), 'a  n\n-  -\nx  1')
 *
 * @since 0.1.0
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, textColumns: number): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: ReadonlyArray<string>): string =>
    cells
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

const us = (ms: number | undefined): string =>
  ms === undefined || !Number.isFinite(ms) ? '-' : ms * 1000 >= 100 ? String(Math.round(ms * 1000)) : (ms * 1000).toFixed(1)
const int = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : String(Math.round(x)))
const xr = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '')

/**
 * The handoff table: per process count, the ring's and our busy % and wait
 * p99 (medians over the rounds), our ratios to the ring's (the median of the
 * rounds', with the lowest and highest) and whether both goals are met.
 *
 * @example
 * import { handoffTable } from './report.js'
 * assert.strictEqual(handoffTable([]), undefined)
 *
 * @since 0.3.0
 */
export const handoffTable = (runs: ReadonlyArray<HandoffRun>): string | undefined => {
  if (runs.length === 0) return undefined
  // Three decimals: a ratio of 0.949 must not read as the 0.95 it misses.
  const range = (lo: number, hi: number): string => (Number.isFinite(lo) && Number.isFinite(hi) ? `${fx(lo, 3)}-${fx(hi, 3)}` : '-')
  const x3 = (x: number): string => (Number.isFinite(x) ? `${fx(x, 3)}x` : '')
  return table(
    ['processes', 'rounds', 'ring busy %', 'ours busy %', 'busy x floor', 'rounds', 'ring wait p99 ms', 'ours p99 ms', 'p99 x floor', 'rounds', 'goals'],
    runs.map((run) => {
      const m = runMedians(run)
      const { median, lowest, highest } = runRatios(run)
      const met = handoffMet(median)
      const failed = run.rounds.flatMap((r) => [r.ours, r.floor]).filter((o) => !o.ok).length
      return [
        String(run.workers), `${run.rounds.length}${failed > 0 ? ` (${failed} failed)` : ''}`,
        fx(m.floorBusy * 100, 1), fx(m.oursBusy * 100, 1), x3(median.busyXFloor), range(lowest.busyXFloor, highest.busyXFloor),
        fx(m.floorP99, 1), fx(m.oursP99, 1), x3(median.waitP99XFloor), range(lowest.waitP99XFloor, highest.waitP99XFloor),
        met === null ? 'not measured' : met ? 'met' : 'MISSED'
      ]
    }),
    1
  )
}

/**
 * The dead-server table: per backend, calls while up and while down, the
 * share answered from the backoff, connection attempts per second and the
 * time to recover.
 *
 * @example
 * import { deadServerTable } from './report.js'
 * assert.strictEqual(deadServerTable({}), undefined)
 *
 * @since 0.3.0
 */
export const deadServerTable = (dead: Readonly<Record<string, Outcome<OutageFigures>>>): string | undefined => {
  const rows = Object.entries(dead)
  if (rows.length === 0) return undefined
  return table(
    ['backend', 'up p50 us', 'down p50 us', 'down p99 us', 'down x up', 'from backoff %', 'connects/s', 'back after ms', 'step ms', ''],
    rows.map(([backend, o]) => {
      const f = ok(o)
      return [
        backend, us(f?.upCallMs.p50), us(f?.downCallMs.p50), us(f?.downCallMs.p99), f === undefined ? '-' : xr(f.downP50XUp),
        f === undefined ? '-' : fx(f.answeredDownShare * 100, 1), f === undefined ? '-' : fx(f.connectsPerSecond, 1),
        int(f?.recoverMs), int(f?.backoffCapMs), o.ok ? '' : `failed: ${o.error}`
      ]
    }),
    1
  )
}

const deadServerSection = (r: Results): ReadonlyArray<string> => {
  const dead = deadServerTable(r.deadServer ?? {})
  const outage = Object.values(r.deadServer ?? {}).find((o) => o.ok)
  return dead === undefined
    ? []
    : [`8. A dead server (killed${outage?.ok === true ? ` for ${outage.figures.outageMs} ms` : ''}, then restarted on the same port)`, dead, '']
}

/**
 * Where a handoff's time goes, for the ring and ours at each process count (their first round):
 * the lock's idle time, the old holder's release round trip, the time until
 * the next holder hears of it and from then until its acquire resolves (p50 /
 * mean, ms), and the Redis scripts per acquisition with their server time.
 *
 * @example
 * import { handoffProfileTable } from './report.js'
 * assert.strictEqual(handoffProfileTable([]), undefined)
 *
 * @since 0.3.0
 */
export const handoffProfileTable = (runs: ReadonlyArray<HandoffRun>): string | undefined => {
  const rows = runs.flatMap((run) => {
    const first = run.rounds[0]
    const sides: ReadonlyArray<readonly [string, HandoffRound['ours'], ServerWork | undefined]> =
      first === undefined
        ? []
        : [
            ['ring', first.floor, first.floorServer],
            ['ours', first.ours, first.oursServer]
          ]
    return sides.flatMap(([who, o, server]) => {
      const p = o.ok ? o.figures.profile : undefined
      if (p === undefined) return []
      const acquisitions = o.ok ? o.figures.acquisitions : Number.NaN
      const both = (x: { readonly p50: number; readonly mean: number }): string => `${fx(x.p50, 3)} / ${fx(x.mean, 3)}`
      return [
        [
          `${who} x${run.workers}`, String(p.handoffs), both(p.idleMs), both(p.releaseMs), both(p.toNoticeMs), both(p.noticeToAcquiredMs),
          server === undefined ? '-' : fx(server.scripts / acquisitions, 1),
          server === undefined ? '-' : fx(server.commands / acquisitions, 1),
          server === undefined ? '-' : int(server.scriptUsec / acquisitions)
        ]
      ]
    })
  })
  if (rows.length === 0) return undefined
  return table(
    ['run', 'handoffs', 'idle ms', 'release ms', 'to notice ms', 'notice to acquired ms', 'scripts/acq', 'commands/acq', 'script us/acq'],
    rows,
    1
  )
}

const handoffSection = (r: Results): ReadonlyArray<string> => {
  const handoff = handoffTable(r.handoff ?? [])
  const profile = handoffProfileTable(r.handoff ?? [])
  const s = r.settings
  return handoff === undefined
    ? []
    : [
        `7. Handoff against its floor, the raw ring (one key, hold ${s.holdMs} ms, pause ${s.pauseMs} ms, ${s.durationMs} ms each; goals busy >= 0.95x, wait p99 <= 1.5x)`,
        handoff,
        '',
        ...(profile === undefined ? [] : ['Where a handoff\'s time goes, first round (p50 / mean; scripts and commands the Redis server ran per acquisition in the window)', profile, ''])
      ]
}

const quorumSection = (r: Results): ReadonlyArray<string> => {
  const quorum = quorumTable(r)
  return quorum === undefined ? [] : ['6. Quorum leases over 3 independent Redis servers (same servers for ours and node-redlock; * = leaselock)', quorum, '']
}

/**
 * The tables printed on stdout: latency, throughput, contention, quorum, handoff against the ring floor, dead servers, targets, then the definitions.
 *
 * @example
 * import { render } from './report.js'
 * // render(results) -> multi-line text
 *
 * @since 0.1.0
 */
export const render = (r: Results): string => {
  const name = (e: Entry): string => `${e.label}${e.kind === 'ours' ? ' *' : ''}`
  const failed = (o: Outcome<unknown> | undefined): string => (o !== undefined && !o.ok ? `failed: ${o.error}` : '')
  const nodeRedis = (e: Entry): string | undefined => (e.backend === 'redis' ? 'raw-node-redis' : undefined)
  const withLatency = r.contestants.filter((e) => r.latency[e.id] !== undefined)
  const withThroughput = r.contestants.filter((e) => r.throughput[e.id] !== undefined)
  const contenders = r.contestants.filter((e) => r.contention[e.id] !== undefined)

  const latency = table(
    ['library', 'backend', 'client', 'p50 us', 'p99 us', 'mean us', 'ops/s', 'p50 x floor', 'mean x floor', 'p50 x node-redis', ''],
    withLatency.map((e) => {
      const f = ok(r.latency[e.id])
      return [
        name(e), e.backend, e.client, us(f?.p50), us(f?.p99), us(f?.mean), int(f?.opsPerSec),
        xr(latencyRatio(r.latency, e.id, e.floor, 'p50')),
        xr(latencyRatio(r.latency, e.id, e.floor, 'mean')),
        xr(latencyRatio(r.latency, e.id, nodeRedis(e), 'p50')),
        failed(r.latency[e.id])
      ]
    }),
    3
  )
  const throughput = table(
    ['library', 'backend', 'client', 'ops/s', 'p50 us', 'p99 us', 'cost x floor', 'cost x node-redis', ''],
    withThroughput.map((e) => {
      const f = ok(r.throughput[e.id])
      return [
        name(e), e.backend, e.client, int(f?.opsPerSec), us(f?.latencyMs.p50), us(f?.latencyMs.p99),
        xr(throughputRatio(r.throughput, e.id, e.floor)),
        xr(throughputRatio(r.throughput, e.id, nodeRedis(e))),
        failed(r.throughput[e.id])
      ]
    }),
    3
  )
  const contention = table(
    ['library', 'backend', 'busy %', 'wait p50 ms', 'p99 ms', 'max ms', 'hold ms', 'acq/s', 'shares per worker', 'max dev', 'gave up', 'overlaps', ''],
    contenders.map((e) => {
      const f = ok(r.contention[e.id])
      return [
        name(e), e.backend,
        f === undefined ? '-' : fx(f.busy * 100, 1),
        f === undefined ? '-' : fx(f.waitMs.p50, 1),
        f === undefined ? '-' : fx(f.waitMs.p99, 1),
        f === undefined ? '-' : fx(f.waitMs.max, 1),
        f === undefined ? '-' : fx(f.holdMs.mean, 2),
        int(f?.rate),
        f === undefined ? '-' : f.shares.counts.join('/'),
        f === undefined ? '-' : `${fx(f.shares.maxDeviation * 100, 1)}%`,
        f === undefined ? '-' : String(f.failures),
        f === undefined ? '-' : String(f.overlaps.count),
        failed(r.contention[e.id])
      ]
    }),
    2
  )
  const checks = table(
    ['target', 'goal', 'measured', 'verdict'],
    targets(r).map((t) => [t.name, t.goal, t.measured, t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED']),
    4
  )
  const s = r.settings
  const sections = [
    `leaselock benchmark, ${r.generatedAt}${s.quick ? ' (quick)' : ''}`,
    `machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...r.servers.notes.map((n) => `server ${n}`),
    `libraries: ${Object.entries(r.libraries).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    `1-3. Uncontended acquire + release latency (${s.iterations} pairs each; * = leaselock)`,
    latency,
    '',
    `4. Throughput (${s.concurrency} concurrent lockers on distinct keys, ${s.ops} pairs each)`,
    throughput,
    '',
    `5. Contention (${s.workers} processes, one key, hold ${s.holdMs} ms, pause ${s.pauseMs} ms, ${s.durationMs} ms each)`,
    contenders.length === 0 ? '(no backend shared between processes in this run)' : contention,
    '',
    ...quorumSection(r),
    ...handoffSection(r),
    ...deadServerSection(r),
    'Targets',
    checks,
    '',
    ...Object.values(r.definitions).map((d) => `- ${d}`)
  ]
  return sections.join('\n')
}
