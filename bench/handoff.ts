/**
 * The handoff scenario: leaselock on Redis against the raw handoff ring
 * (`ring.ts`), each run as the contention scenario runs it (the same
 * processes, hold and pause), with 4 and with 8 processes, the two back to
 * back in rounds so they share the machine's state; and the ratios of our
 * figures to the ring's (the median over the rounds), with the targets of
 * issue 13.
 *
 * @since 0.3.0
 */
import { createClient } from 'redis'
import { ContentionOptions, ContentionResult, contention } from './contention.js'
import type { Outcome, Progress } from './scenarios.js'
import type { Endpoints } from './servers.js'
import { ratio } from './stats.js'

/**
 * The contestant measured against the ring, and the ring.
 *
 * @example
 * import { HANDOFF_PAIR } from './handoff.js'
 * assert.strictEqual(HANDOFF_PAIR.floor, 'raw-ring')
 *
 * @since 0.3.0
 */
export const HANDOFF_PAIR = { ours: 'leaselock-redis', floor: 'raw-ring' } as const

/**
 * The process counts the scenario runs with.
 *
 * @example
 * import { HANDOFF_WORKERS } from './handoff.js'
 * assert.deepStrictEqual(HANDOFF_WORKERS, [4, 8])
 *
 * @since 0.3.0
 */
export const HANDOFF_WORKERS: ReadonlyArray<number> = [4, 8]

/**
 * Ours and the ring once each, back to back, with one number of processes.
 *
 * @since 0.3.0
 */
export interface HandoffRound {
  readonly ours: Outcome<ContentionResult>
  readonly floor: Outcome<ContentionResult>
  /** What the Redis server did from the common start to the end of our run (absent when it could not be read). */
  readonly oursServer?: ServerWork
  /** The same for the ring's run. */
  readonly floorServer?: ServerWork
}

/**
 * Every round with one number of processes (rounds alternate the ring and
 * ours, so a machine whose load drifts weighs on both alike).
 *
 * @since 0.3.0
 */
export interface HandoffRun {
  readonly workers: number
  readonly rounds: ReadonlyArray<HandoffRound>
}

/**
 * Commands the Redis server ran, from `INFO commandstats`: all of them, and
 * the scripts (`EVAL`, `EVALSHA` and their read-only forms) with the server
 * time they took. The bench's own `INFO` and `CONFIG` are not counted.
 *
 * @since 0.3.0
 */
export interface ServerWork {
  readonly commands: number
  readonly scripts: number
  readonly scriptUsec: number
}

/**
 * Reads an `INFO commandstats` reply.
 *
 * @example
 * import { serverWork } from './handoff.js'
 * const w = serverWork('# Commandstats\r\ncmdstat_evalsha:calls=3,usec=60,usec_per_call=20.00\r\ncmdstat_publish:calls=2,usec=4\r\ncmdstat_info:calls=1,usec=9')
 * assert.deepStrictEqual(w, { commands: 5, scripts: 3, scriptUsec: 60 })
 *
 * @since 0.3.0
 */
export const serverWork = (commandstats: string): ServerWork => {
  let commands = 0
  let scripts = 0
  let scriptUsec = 0
  for (const [, name, calls, usec] of commandstats.matchAll(/cmdstat_([a-z_|-]+):calls=(\d+),usec=(\d+)/g)) {
    if (name === undefined || name === 'info' || name.startsWith('config')) continue
    commands += Number(calls)
    if (/^eval(sha)?(_ro)?$/.test(name)) {
      scripts += Number(calls)
      scriptUsec += Number(usec)
    }
  }
  return { commands, scripts, scriptUsec }
}

/**
 * Our busy share and wait p99 as multiples of the ring's (`NaN` when either run failed).
 *
 * @since 0.3.0
 */
export interface HandoffRatios {
  /** Our busy share / the ring's: 1 = the lock sits idle between holders no longer than the ring's. */
  readonly busyXFloor: number
  /** Our wait p99 / the ring's. */
  readonly waitP99XFloor: number
}

/**
 * The goals: busy at least 0.95x the ring's, wait p99 at most 1.5x.
 *
 * @example
 * import { HANDOFF_TARGETS } from './handoff.js'
 * assert.strictEqual(HANDOFF_TARGETS.busyXFloor, 0.95)
 *
 * @since 0.3.0
 */
export const HANDOFF_TARGETS: HandoffRatios = { busyXFloor: 0.95, waitP99XFloor: 1.5 }

const figures = <A>(o: Outcome<A>): A | undefined => (o.ok ? o.figures : undefined)

/**
 * The ratios of one round.
 *
 * @example
 * import { handoffRatios } from './handoff.js'
 * const run = (busy: number, p99: number) => ({ ok: true as const, figures: { busy, waitMs: { p99 } } as never })
 * assert.deepStrictEqual(handoffRatios({ ours: run(0.76, 15), floor: run(0.8, 10) }), { busyXFloor: 0.95, waitP99XFloor: 1.5 })
 *
 * @since 0.3.0
 */
export const handoffRatios = (round: HandoffRound): HandoffRatios => {
  const ours = figures(round.ours)
  const floor = figures(round.floor)
  return { busyXFloor: ratio(ours?.busy, floor?.busy), waitP99XFloor: ratio(ours?.waitMs.p99, floor?.waitMs.p99) }
}

/**
 * The median of the finite numbers (`NaN` when there are none); of an even
 * count, the mean of the middle two.
 *
 * @example
 * import { median } from './handoff.js'
 * assert.strictEqual(median([3, Number.NaN, 1, 2]), 2)
 * assert.strictEqual(median([4, 1]), 2.5)
 *
 * @since 0.3.0
 */
export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * A run's ratios: the median of its rounds' (the verdict is on these), with
 * the lowest and highest round.
 *
 * @example
 * import { runRatios } from './handoff.js'
 * const round = (busy: number) => ({ ours: { ok: true as const, figures: { busy, waitMs: { p99: 10 } } as never }, floor: { ok: true as const, figures: { busy: 1, waitMs: { p99: 10 } } as never } })
 * assert.strictEqual(runRatios({ workers: 4, rounds: [round(0.9), round(0.8), round(1)] }).median.busyXFloor, 0.9)
 *
 * @since 0.3.0
 */
export const runRatios = (run: HandoffRun): { readonly median: HandoffRatios; readonly lowest: HandoffRatios; readonly highest: HandoffRatios } => {
  const each = run.rounds.map(handoffRatios)
  const pick = (f: (xs: number[]) => number): HandoffRatios => ({
    busyXFloor: f(each.map((r) => r.busyXFloor).filter(Number.isFinite)),
    waitP99XFloor: f(each.map((r) => r.waitP99XFloor).filter(Number.isFinite))
  })
  const lowest = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.min(...xs))
  const highest = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs))
  return { median: pick(median), lowest: pick(lowest), highest: pick(highest) }
}

/**
 * Whether a run meets both goals: `null` when it could not be measured.
 *
 * @example
 * import { handoffMet } from './handoff.js'
 * assert.strictEqual(handoffMet({ busyXFloor: 0.96, waitP99XFloor: 1.2 }), true)
 * assert.strictEqual(handoffMet({ busyXFloor: 0.9, waitP99XFloor: 1.2 }), false)
 * assert.strictEqual(handoffMet({ busyXFloor: Number.NaN, waitP99XFloor: 1 }), null)
 *
 * @since 0.3.0
 */
export const handoffMet = (r: HandoffRatios): boolean | null =>
  Number.isFinite(r.busyXFloor) && Number.isFinite(r.waitP99XFloor)
    ? r.busyXFloor >= HANDOFF_TARGETS.busyXFloor && r.waitP99XFloor <= HANDOFF_TARGETS.waitP99XFloor
    : null

/**
 * A run's busy shares and wait p99s, ours and the ring's: the median over its rounds.
 *
 * @example
 * import { runMedians } from './handoff.js'
 * const side = (busy: number, p99: number) => ({ ok: true as const, figures: { busy, waitMs: { p99 } } as never })
 * const m = runMedians({ workers: 4, rounds: [{ ours: side(0.7, 20), floor: side(0.8, 10) }, { ours: { ok: false, error: 'x' }, floor: side(0.9, 12) }] })
 * assert.deepStrictEqual(m, { oursBusy: 0.7, floorBusy: 0.85, oursP99: 20, floorP99: 11 })
 *
 * @since 0.3.0
 */
export const runMedians = (run: HandoffRun): { readonly oursBusy: number; readonly floorBusy: number; readonly oursP99: number; readonly floorP99: number } => {
  const of = (side: 'ours' | 'floor', f: (c: ContentionResult) => number): number =>
    median(run.rounds.map((r) => figures(r[side])).flatMap((c) => (c === undefined ? [] : [f(c)])))
  return {
    oursBusy: of('ours', (c) => c.busy),
    floorBusy: of('floor', (c) => c.busy),
    oursP99: of('ours', (c) => c.waitMs.p99),
    floorP99: of('floor', (c) => c.waitMs.p99)
  }
}

/**
 * Runs the ring and ours, back to back, `rounds` times with each process count.
 *
 * @example
 * import { handoff } from './handoff.js'
 * const runs = await handoff({ redisUrl: 'redis://127.0.0.1:6379' }, {
 *   holdMs: 2, pauseMs: 1, durationMs: 2000, ttlMs: 5000, timeoutMs: 10000, prefix: 'bench'
 * }, [4, 8], 1, console.error)
 *
 * @since 0.3.0
 */
export const handoff = async (
  endpoints: Endpoints,
  options: Omit<ContentionOptions, 'workers'>,
  workerCounts: ReadonlyArray<number>,
  rounds: number,
  progress: Progress
): Promise<ReadonlyArray<HandoffRun>> => {
  const stats = createClient({ url: endpoints.redisUrl, socket: { connectTimeout: 5_000, reconnectStrategy: false } })
  stats.on('error', () => undefined)
  const connected = await stats.connect().then(
    () => true,
    () => false
  )
  /** Runs one contestant, with the server's counters reset at the common start and read at the end. */
  const measured = async (id: string, workers: number, round: number): Promise<readonly [Outcome<ContentionResult>, ServerWork | undefined]> => {
    const resetAtGo = async (): Promise<void> => {
      if (connected) await stats.sendCommand(['CONFIG', 'RESETSTAT'])
    }
    const outcome = await contention(id, endpoints, { ...options, workers, prefix: `${options.prefix}:round${round}` }, progress, resetAtGo)
    const work = connected ? serverWork(String(await stats.sendCommand(['INFO', 'commandstats']))) : undefined
    return [outcome, work]
  }
  const runs: HandoffRun[] = []
  try {
    for (const workers of workerCounts) {
      const done: HandoffRound[] = []
      for (let round = 0; round < rounds; round++) {
        const [floor, floorServer] = await measured(HANDOFF_PAIR.floor, workers, round)
        const [ours, oursServer] = await measured(HANDOFF_PAIR.ours, workers, round)
        done.push({ ours, floor, ...(oursServer === undefined ? {} : { oursServer }), ...(floorServer === undefined ? {} : { floorServer }) })
      }
      runs.push({ workers, rounds: done })
    }
  } finally {
    if (connected) await stats.close()
  }
  return runs
}
