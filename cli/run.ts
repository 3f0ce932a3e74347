/**
 * `leaselock run`: a distributed `flock`. Runs a command while holding a
 * lease (`withLock`: renewed every third of the TTL, released at the end),
 * forwards SIGINT, SIGTERM and SIGHUP to it, and stops it — SIGTERM, then
 * SIGKILL after a grace period — when the lease is lost.
 *
 * @since 0.3.0
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import * as E from 'fp-ts/lib/Either.js'
import { LeaseLostError } from '../src/KeepAlive.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { EXIT, Run } from './args.js'
import { openStore } from './backend.js'

/** How the command ended. */
type Ended = { readonly _tag: 'Exited'; readonly status: number } | { readonly _tag: 'NotStarted'; readonly status: number; readonly why: string }

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
type Forwarded = (typeof FORWARDED)[number]

const signalStatus = (signal: NodeJS.Signals): number => 128 + (constants.signals[signal] ?? 0)

/** Sends a signal to a process group; a group that is gone already is fine. */
const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the command and its children have exited.
  }
}

/** What a failure to get the lock (or to keep it) exits with. */
const lockFailureStatus = (e: LockError): number => {
  switch (e._tag) {
    case 'Timeout':
      return EXIT.held
    case 'NotHeld':
      return EXIT.lost
    case 'InvalidArgument':
    case 'ConfigError':
      return EXIT.usage
    default:
      return EXIT.unavailable
  }
}

/**
 * Runs `run.command` under a lease on `run.key` and answers the exit status
 * (see `EXIT`); `say` prints leaselock's own lines (to stderr).
 *
 * @example
 * import { runUnderLease } from './run.js'
 * const status = await runUnderLease(
 *   { _tag: 'Run', backend: { _tag: 'Redis', url: 'redis://127.0.0.1:6379' }, key: 'nightly', ttlMs: 30_000, waitMs: 0, graceMs: 10_000, connectTimeoutMs: 5_000, command: ['true'] },
 *   console.error
 * )
 *
 * @since 0.3.0
 */
export const runUnderLease = async (run: Run, say: (line: string) => void): Promise<number> => {
  const interrupted = new AbortController()
  let child: number | undefined
  let received: Forwarded | undefined
  const onSignal = (signal: Forwarded): void => {
    received = signal
    if (child !== undefined) signalGroup(child, signal)
    else interrupted.abort(signal)
  }
  const handlers = FORWARDED.map((signal) => [signal, () => onSignal(signal)] as const)
  for (const [signal, handler] of handlers) process.on(signal, handler)
  try {
    const opened = await openStore(run.backend, run.connectTimeoutMs)
    if (E.isLeft(opened)) {
      say(`leaselock: ${message(opened.left)}`)
      return opened.left._tag === 'ConfigError' ? EXIT.usage : EXIT.unavailable
    }
    let ended: Ended | undefined
    let lost = false
    try {
      const lock = makeLock(opened.right.store)
      const result = await lock.withLock(run.key, run.ttlMs, { timeoutMs: run.waitMs, signal: interrupted.signal }, (lease, leaseLost) => () =>
        new Promise<E.Either<never, Ended>>((resolve) => {
          const [file, ...args] = run.command
          const proc = spawn(file!, args, {
            stdio: 'inherit',
            detached: true,
            env: { ...process.env, LEASELOCK_KEY: run.key, LEASELOCK_FENCE: String(lease.fence) }
          })
          let killer: NodeJS.Timeout | undefined
          const stop = (): void => {
            lost = true
            const why = leaseLost.reason instanceof LeaseLostError && leaseLost.reason.why === 'refused' ? 'another holder has the key' : 'it expired before a renewal succeeded'
            say(`leaselock: lost the lease on ${run.key} (${why}); stopping the command`)
            if (child === undefined) return
            signalGroup(child, 'SIGTERM')
            const pid = child
            killer = setTimeout(() => signalGroup(pid, 'SIGKILL'), run.graceMs)
          }
          const finish = (e: Ended): void => {
            clearTimeout(killer)
            leaseLost.removeEventListener('abort', stop)
            child = undefined
            ended = e
            resolve(E.right(e))
          }
          proc.once('spawn', () => {
            child = proc.pid
            if (received !== undefined) signalGroup(proc.pid!, received)
            if (leaseLost.aborted) stop()
            else leaseLost.addEventListener('abort', stop, { once: true })
          })
          proc.once('error', (e: NodeJS.ErrnoException) =>
            finish({
              _tag: 'NotStarted',
              status: e.code === 'ENOENT' ? EXIT.notFound : EXIT.notExecutable,
              why: `cannot run ${JSON.stringify(file)}: ${e.message}`
            })
          )
          proc.once('exit', (code, signal) => finish({ _tag: 'Exited', status: code ?? signalStatus(signal ?? 'SIGKILL') }))
        })
      )()
      if (ended?._tag === 'NotStarted') say(`leaselock: ${ended.why}`)
      if (lost) return EXIT.lost
      if (E.isRight(result)) return result.right.status
      if (ended !== undefined) {
        say(`leaselock: the command ended but the lock on ${run.key} was not released (it expires within ${run.ttlMs} ms): ${message(result.left)}`)
        return ended.status
      }
      if (result.left._tag === 'Aborted' && received !== undefined) return signalStatus(received)
      say(
        result.left._tag === 'Timeout'
          ? `leaselock: ${run.key} is held by another holder${run.waitMs > 0 ? ` (waited ${run.waitMs} ms)` : ''}`
          : `leaselock: ${message(result.left)}`
      )
      return lockFailureStatus(result.left)
    } finally {
      await opened.right.close()
    }
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler)
  }
}
