/**
 * The handoff scenario: leaselock on Redis against the raw handoff ring
 * (`ring.ts`), each run as the contention scenario runs it (the same
 * processes, hold and pause), with 4 and with 8 processes, the two back to
 * back so they share the machine's state; and the ratios of our figures to the
 * ring's, with the targets of issue 13.
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
 * Ours and the ring with one number of processes.
 *
 * @since 0.3.0
 */
export interface HandoffRun {
  readonly workers: number
  readonly ours: Outcome<ContentionResult>
  readonly floor: Outcome<ContentionResult>
  /** What the Redis server did from the common start to the end of our run (absent when it could not be read). */
  readonly oursServer?: ServerWork
  /** The same for the ring's run. */
  readonly floorServer?: ServerWork
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
 * The ratios of one run.
 *
 * @example
 * import { handoffRatios } from './handoff.js'
 * const run = (busy: number, p99: number) => ({ ok: true as const, figures: { busy, waitMs: { p99 } } as never })
 * assert.deepStrictEqual(handoffRatios({ workers: 4, ours: run(0.76, 15), floor: run(0.8, 10) }), { busyXFloor: 0.95, waitP99XFloor: 1.5 })
 *
 * @since 0.3.0
 */
export const handoffRatios = (run: HandoffRun): HandoffRatios => {
  const ours = figures(run.ours)
  const floor = figures(run.floor)
  return { busyXFloor: ratio(ours?.busy, floor?.busy), waitP99XFloor: ratio(ours?.waitMs.p99, floor?.waitMs.p99) }
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
 * Runs the ring and ours, back to back, with each process count.
 *
 * @example
 * import { handoff } from './handoff.js'
 * const runs = await handoff({ redisUrl: 'redis://127.0.0.1:6379' }, {
 *   holdMs: 2, pauseMs: 1, durationMs: 2000, ttlMs: 5000, timeoutMs: 10000, prefix: 'bench'
 * }, [4, 8], console.error)
 *
 * @since 0.3.0
 */
export const handoff = async (
  endpoints: Endpoints,
  options: Omit<ContentionOptions, 'workers'>,
  workerCounts: ReadonlyArray<number>,
  progress: Progress
): Promise<ReadonlyArray<HandoffRun>> => {
  const stats = createClient({ url: endpoints.redisUrl, socket: { connectTimeout: 5_000, reconnectStrategy: false } })
  stats.on('error', () => undefined)
  const connected = await stats.connect().then(
    () => true,
    () => false
  )
  /** Runs one contestant, with the server's counters reset at the common start and read at the end. */
  const measured = async (id: string, workers: number): Promise<readonly [Outcome<ContentionResult>, ServerWork | undefined]> => {
    const resetAtGo = async (): Promise<void> => {
      if (connected) await stats.sendCommand(['CONFIG', 'RESETSTAT'])
    }
    const outcome = await contention(id, endpoints, { ...options, workers }, progress, resetAtGo)
    const work = connected ? serverWork(String(await stats.sendCommand(['INFO', 'commandstats']))) : undefined
    return [outcome, work]
  }
  const runs: HandoffRun[] = []
  try {
    for (const workers of workerCounts) {
      const [floor, floorServer] = await measured(HANDOFF_PAIR.floor, workers)
      const [ours, oursServer] = await measured(HANDOFF_PAIR.ours, workers)
      runs.push({ workers, ours, floor, ...(oursServer === undefined ? {} : { oursServer }), ...(floorServer === undefined ? {} : { floorServer }) })
    }
  } finally {
    if (connected) await stats.close()
  }
  return runs
}
