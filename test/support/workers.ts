/** Running exclusion workers (see `exclusionWorker.ts`) as child processes, and judging their critical sections. */
import { ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Section, WorkerReport, WorkerTask } from './exclusionWorker.js'

/** The compiled worker next to this file (or its source when this file runs under tsx). */
export const WORKER = fileURLToPath(new URL(`./exclusionWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))

/** What a run of workers reported, how each ended, and how long it took. */
export interface Ran {
  readonly reports: ReadonlyArray<WorkerReport>
  readonly exitCodes: ReadonlyArray<number | null>
  readonly ms: number
}

const exitOf = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)))

/**
 * Forks one worker per task (the exclusion worker, or `worker`), starts them
 * together once all are connected, and collects their reports; `onStart`
 * runs the moment they are started.
 */
export const runWorkers = async (
  tasks: ReadonlyArray<WorkerTask | object>,
  limitMs: number,
  onStart: () => void = () => undefined,
  worker: string = WORKER
): Promise<Ran> => {
  const children = tasks.map((t) => fork(worker, [JSON.stringify(t)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const killer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), limitMs)
  try {
    const reports = children.map(
      (child) =>
        new Promise<WorkerReport>((resolve, reject) => {
          child.on('message', (m: unknown) => {
            if (typeof m === 'object' && m !== null && 'sections' in m) resolve(m as WorkerReport)
          })
          child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) without a report`)))
        })
    )
    reports.forEach((r) => r.catch(() => undefined))
    await Promise.all(
      children.map((child) => new Promise<void>((resolve) => child.on('message', (m: unknown) => m !== null && typeof m === 'object' && 'ready' in m && resolve())))
    )
    const started = performance.now()
    children.forEach((child) => child.send('go'))
    onStart()
    const all = await Promise.all(reports)
    const ms = performance.now() - started
    return { reports: all, exitCodes: await Promise.all(children.map(exitOf)), ms }
  } finally {
    clearTimeout(killer)
    children.forEach((c) => c.kill('SIGKILL'))
  }
}

/** Pairs of sections (sorted by start) where the later one began before the earlier one ended. */
export const overlaps = (sections: ReadonlyArray<Section>): Array<[Section, Section]> => {
  const sorted = [...sections].sort((a, b) => a.start - b.start)
  const found: Array<[Section, Section]> = []
  let latest: Section | undefined
  for (const s of sorted) {
    if (latest !== undefined && s.start < latest.end) found.push([latest, s])
    if (latest === undefined || s.end > latest.end) latest = s
  }
  return found
}

/** The smallest gap between one section's end and the next one's start, in ms. */
export const smallestGap = (sections: ReadonlyArray<Section>): number => {
  const sorted = [...sections].sort((a, b) => a.start - b.start)
  return sorted.slice(1).reduce((min, s, i) => Math.min(min, s.start - sorted[i]!.end), Infinity)
}

