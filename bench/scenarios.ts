/**
 * The in-process scenarios: uncontended sequential latency (interleaved in
 * rounds so drift on a shared machine hits every contestant alike) and
 * throughput with many concurrent lockers on distinct keys.
 *
 * @since 0.1.0
 */
import { Summary, opsPerSecond, summarize } from './stats.js'
import type { Locker } from './locker.js'

/**
 * A contestant that is open for this run.
 *
 * @since 0.1.0
 */
export interface Entrant {
  readonly id: string
  readonly locker: Locker
}

/**
 * Either figures or the error that stopped a contestant.
 *
 * @since 0.1.0
 */
export type Outcome<A> = { readonly ok: true; readonly figures: A } | { readonly ok: false; readonly error: string }

/**
 * @since 0.1.0
 */
export interface LatencyFigures extends Summary {
  /** Sequential acquire+release pairs per second (1000 / mean). */
  readonly opsPerSec: number
}

/**
 * @since 0.1.0
 */
export interface ThroughputFigures {
  readonly concurrency: number
  readonly ops: number
  readonly elapsedMs: number
  readonly opsPerSec: number
  /** Each acquire+release pair's latency under this load. */
  readonly latencyMs: Summary
}

/**
 * @since 0.1.0
 */
export type Progress = (line: string) => void

const TTL_MS = 10_000
const TIMEOUT_MS = 1_000

/** One acquire+release pair; a refused acquisition is an error (keys are never contended here). */
const pair = async (locker: Locker, key: string): Promise<void> => {
  const release = await locker.acquire(key, TTL_MS, TIMEOUT_MS)
  if (release === undefined) throw new Error(`uncontended acquisition of ${key} was refused`)
  await release()
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Rejects if `promise` has not settled after `ms`: a hung client fails its contestant instead of the run. */
const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

/**
 * Sequential acquire+release latency. Each contestant first warms up, then the
 * measured pairs run in `rounds` blocks, visiting every contestant in each
 * round. A contestant that fails or hangs is dropped with its error.
 *
 * @example
 * import { latency } from './scenarios.js'
 * import { oursMemory } from './ours.js'
 * const figures = await latency([{ id: 'm', locker: await oursMemory() }], { iterations: 100, warmup: 10, rounds: 2, prefix: 'x' }, () => undefined)
 *
 * @since 0.1.0
 */
export const latency = async (
  entrants: ReadonlyArray<Entrant>,
  options: { readonly iterations: number; readonly warmup: number; readonly rounds: number; readonly prefix: string },
  progress: Progress
): Promise<Record<string, Outcome<LatencyFigures>>> => {
  const samples = new Map<string, number[]>(entrants.map((e) => [e.id, []]))
  const failed = new Map<string, string>()
  const perRound = Math.ceil(options.iterations / options.rounds)
  const run = async (e: Entrant, n: number, record: boolean): Promise<void> => {
    const key = `${options.prefix}:latency:${e.id}`
    const out = samples.get(e.id) as number[]
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await pair(e.locker, key)
      if (record) out.push(performance.now() - t0)
    }
  }
  const step = async (e: Entrant, n: number, record: boolean): Promise<void> => {
    if (failed.has(e.id)) return
    try {
      await within(run(e, n, record), 30_000 + n * 50, e.id)
    } catch (err) {
      failed.set(e.id, errorText(err))
      progress(`  ${e.id}: failed: ${errorText(err)}`)
    }
  }
  for (const e of entrants) await step(e, options.warmup, false)
  for (let r = 0; r < options.rounds; r++) {
    for (const e of entrants) await step(e, Math.min(perRound, options.iterations - r * perRound), true)
    if ((r + 1) % Math.ceil(options.rounds / 10) === 0) progress(`  latency round ${r + 1}/${options.rounds}`)
  }
  return Object.fromEntries(
    entrants.map((e): [string, Outcome<LatencyFigures>] => {
      const error = failed.get(e.id)
      if (error !== undefined) return [e.id, { ok: false, error }]
      const summary = summarize(samples.get(e.id) as number[])
      return [e.id, { ok: true, figures: { ...summary, opsPerSec: 1000 / summary.mean } }]
    })
  )
}

/**
 * Throughput: `concurrency` lockers in one process, each on its own key,
 * sharing one client, until `ops` acquire+release pairs are done in total.
 * After a short warm-up at the same concurrency, the pairs run in `rounds`
 * bursts that visit every contestant in each round; ops/s is the pairs over
 * the summed burst times.
 *
 * @example
 * import { throughput } from './scenarios.js'
 * import { oursMemory } from './ours.js'
 * const figures = await throughput([{ id: 'm', locker: await oursMemory() }], { concurrency: 8, ops: 100, rounds: 2, prefix: 'x' }, () => undefined)
 *
 * @since 0.1.0
 */
export const throughput = async (
  entrants: ReadonlyArray<Entrant>,
  options: { readonly concurrency: number; readonly ops: number; readonly rounds: number; readonly prefix: string },
  progress: Progress
): Promise<Record<string, Outcome<ThroughputFigures>>> => {
  const burst = async (e: Entrant, ops: number, samples: number[]): Promise<number> => {
    let started = 0
    const t0 = performance.now()
    const worker = async (w: number): Promise<void> => {
      const key = `${options.prefix}:throughput:${e.id}:${w}`
      while (started < ops) {
        started++
        const s = performance.now()
        try {
          await pair(e.locker, key)
        } catch (err) {
          started = ops
          throw err
        }
        samples.push(performance.now() - s)
      }
    }
    await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)))
    return performance.now() - t0
  }
  const samples = new Map<string, number[]>(entrants.map((e) => [e.id, []]))
  const elapsed = new Map<string, number>(entrants.map((e) => [e.id, 0]))
  const failed = new Map<string, string>()
  const step = async (e: Entrant, ops: number, record: boolean): Promise<void> => {
    if (failed.has(e.id) || ops <= 0) return
    try {
      const ms = await within(burst(e, ops, record ? (samples.get(e.id) as number[]) : []), 60_000 + ops * 5, e.id)
      if (record) elapsed.set(e.id, (elapsed.get(e.id) as number) + ms)
    } catch (err) {
      failed.set(e.id, errorText(err))
      progress(`  ${e.id}: failed: ${errorText(err)}`)
    }
  }
  const perRound = Math.ceil(options.ops / options.rounds)
  for (const e of entrants) await step(e, Math.min(options.ops, options.concurrency * 10), false)
  for (let r = 0; r < options.rounds; r++) {
    for (const e of entrants) await step(e, Math.min(perRound, options.ops - r * perRound), true)
    progress(`  throughput round ${r + 1}/${options.rounds}`)
  }
  return Object.fromEntries(
    entrants.map((e): [string, Outcome<ThroughputFigures>] => {
      const error = failed.get(e.id)
      if (error !== undefined) return [e.id, { ok: false, error }]
      const done = samples.get(e.id) as number[]
      const elapsedMs = elapsed.get(e.id) as number
      return [
        e.id,
        {
          ok: true,
          figures: {
            concurrency: options.concurrency,
            ops: done.length,
            elapsedMs,
            opsPerSec: opsPerSecond(done.length, elapsedMs),
            latencyMs: summarize(done)
          }
        }
      ]
    })
  )
}
