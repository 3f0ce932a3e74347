/**
 * The contention scenario, parent side: forks W worker processes that fight
 * for one key, starts them together, collects the timestamps each recorded
 * and computes the figures on the shared timeline.
 *
 * @since 0.1.0
 */
import { ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ContentionFigures, HandoffProfile, WorkerRecord, contentionFigures, handoffProfile } from './stats.js'
import type { Endpoints } from './servers.js'
import type { Outcome, Progress } from './scenarios.js'

/**
 * What a worker is told when it is forked.
 *
 * @since 0.1.0
 */
export interface WorkerSetup {
  readonly contestant: string
  readonly endpoints: Endpoints
  readonly key: string
  readonly ttlMs: number
  readonly timeoutMs: number
  readonly holdMs: number
  readonly pauseMs: number
  /** This worker's index among `workers` (the ring floor's seat). */
  readonly index: number
  readonly workers: number
}

/**
 * Messages between the parent and a worker (over the IPC channel).
 *
 * @since 0.1.0
 */
export type ToWorker = { readonly type: 'setup'; readonly setup: WorkerSetup } | { readonly type: 'go'; readonly startAt: number; readonly endAt: number }

/**
 * @since 0.1.0
 */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly record: WorkerRecord }
  | { readonly type: 'failed'; readonly error: string }

/**
 * Milliseconds on a timeline all processes of this machine share: the
 * system-wide monotonic clock (`process.hrtime`). Not `performance.timeOrigin +
 * performance.now()`: each process fixes its time origin when it starts, and a
 * process preempted at that moment is off by as much (12 ms seen here), which
 * would invent or hide overlaps between workers.
 *
 * @example
 * import { sharedNow } from './contention.js'
 * const t0 = sharedNow()
 * assert.ok(sharedNow() >= t0)
 *
 * @since 0.1.0
 */
export const sharedNow = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * @since 0.1.0
 */
export interface ContentionOptions {
  readonly workers: number
  readonly holdMs: number
  readonly pauseMs: number
  readonly durationMs: number
  readonly ttlMs: number
  readonly timeoutMs: number
  readonly prefix: string
}

/**
 * The figures of one contention run, with the settings that produced them.
 *
 * @since 0.1.0
 */
export interface ContentionResult extends ContentionFigures {
  readonly run: { readonly workers: number; readonly holdMs: number; readonly pauseMs: number; readonly durationMs: number }
  /** Where the handoffs' time went, when the workers heard of them (leaselock on Redis, the ring). */
  readonly profile?: HandoffProfile
}

const workerScript = (): string => {
  const self = fileURLToPath(import.meta.url)
  return self.replace(/contention\.([cm]?[jt]s)$/, 'worker.$1')
}

/** Resolves with the next message of a type, or rejects on exit or after `ms`. */
const expect = <T extends FromWorker['type']>(
  child: ChildProcess,
  type: T,
  ms: number
): Promise<Extract<FromWorker, { type: T }>> =>
  new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (m: FromWorker): void => {
      if (m.type === type) {
        cleanup()
        resolve(m as Extract<FromWorker, { type: T }>)
      } else if (m.type === 'failed') {
        cleanup()
        reject(new Error(m.error))
      }
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`worker exited (${code}) before '${type}'`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`worker sent no '${type}' within ${ms} ms`))
    }, ms)
    child.on('message', onMessage)
    child.once('exit', onExit)
  })

const exited = (child: ChildProcess, ms: number): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
        }, ms)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
      })

/**
 * What the workers of one run recorded, and the window they were measured in.
 *
 * @since 0.4.0
 */
export interface Collected {
  readonly records: ReadonlyArray<WorkerRecord>
  readonly window: readonly [number, number]
}

/**
 * Forks `options.workers` workers of one contestant, starts them together and
 * collects every attempt they recorded on the shared timeline; rejects when
 * a worker fails. Workers connect and warm up before the common start
 * (`beforeGo` runs once all are ready) and stop starting attempts at the end
 * of the window.
 *
 * @example
 * import { collect } from './contention.js'
 * const { records } = await collect('redlock', { redisUrl: 'redis://127.0.0.1:6379' }, {
 *   workers: 4, holdMs: 2, pauseMs: 1, durationMs: 2000, ttlMs: 5000, timeoutMs: 10000, prefix: 'bench'
 * }, 'contention')
 *
 * @since 0.4.0
 */
export const collect = async (
  contestant: string,
  endpoints: Endpoints,
  options: ContentionOptions,
  scenario: string,
  beforeGo: () => Promise<void> = async () => undefined
): Promise<Collected> => {
  const setup = (index: number): WorkerSetup => ({
    contestant,
    endpoints,
    key: `${options.prefix}:${scenario}:${contestant}:${options.workers}`,
    ttlMs: options.ttlMs,
    timeoutMs: options.timeoutMs,
    holdMs: options.holdMs,
    pauseMs: options.pauseMs,
    index,
    workers: options.workers
  })
  const children = Array.from({ length: options.workers }, () =>
    fork(workerScript(), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  )
  try {
    const ready = children.map((child) => expect(child, 'ready', 20_000))
    children.forEach((child, index) => child.send({ type: 'setup', setup: setup(index) } satisfies ToWorker))
    await Promise.all(ready)
    await beforeGo()
    const startAt = sharedNow() + 100
    const endAt = startAt + options.durationMs
    const done = children.map((child) => expect(child, 'done', options.durationMs + options.timeoutMs + 20_000))
    for (const child of children) child.send({ type: 'go', startAt, endAt } satisfies ToWorker)
    const records = (await Promise.all(done)).map((m) => m.record)
    return { records, window: [startAt, endAt] }
  } finally {
    for (const child of children) if (child.connected) child.disconnect()
    await Promise.all(children.map((child) => exited(child, 5_000)))
  }
}

/**
 * Runs the contention scenario for one contestant (see {@link collect}); the
 * figures cover the window only.
 *
 * @example
 * import { contention } from './contention.js'
 * const result = await contention('redlock', { redisUrl: 'redis://127.0.0.1:6379' }, {
 *   workers: 4, holdMs: 2, pauseMs: 1, durationMs: 2000, ttlMs: 5000, timeoutMs: 10000, prefix: 'bench'
 * }, console.error)
 *
 * @since 0.1.0
 */
export const contention = async (
  contestant: string,
  endpoints: Endpoints,
  options: ContentionOptions,
  progress: Progress,
  beforeGo: () => Promise<void> = async () => undefined
): Promise<Outcome<ContentionResult>> => {
  try {
    const { records, window } = await collect(contestant, endpoints, options, 'contention', beforeGo)
    const figures = contentionFigures(records, window)
    const heard = records.some((r) => (r.notified ?? []).some(Number.isFinite))
    progress(
      `  contention ${contestant} x${options.workers}: busy ${(figures.busy * 100).toFixed(1)}%, wait p99 ${figures.waitMs.p99.toFixed(1)} ms, ` +
        `${figures.acquisitions} acquisitions, ${figures.overlaps.count} overlaps`
    )
    return {
      ok: true,
      figures: {
        ...figures,
        run: { workers: options.workers, holdMs: options.holdMs, pauseMs: options.pauseMs, durationMs: options.durationMs },
        ...(heard ? { profile: handoffProfile(records, window) } : {})
      }
    }
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e)
    progress(`  contention ${contestant}: failed: ${error}`)
    return { ok: false, error }
  }
}
