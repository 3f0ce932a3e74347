/**
 * A contention worker process: opens one contestant's lock, waits for the
 * common start, then acquires, holds, releases and pauses until the window
 * ends, recording every attempt on the shared timeline. Forked by
 * `contention.ts`; it exits by itself once it has reported.
 *
 * @since 0.1.0
 */
import { subscribe } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { contestant } from './contestants.js'
import { FromWorker, ToWorker, WorkerSetup, sharedNow } from './contention.js'
import type { Locker } from './locker.js'
import { TURN_CHANNEL } from './ring.js'

const send = (message: FromWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })

let locker: Locker | undefined
let setup: WorkerSetup | undefined

const finish = async (code: number): Promise<void> => {
  await locker?.close().catch(() => undefined)
  locker = undefined
  process.exitCode = code
  if (process.connected) process.disconnect()
}

const fail = async (e: unknown): Promise<void> => {
  await send({ type: 'failed', error: `${setup?.contestant ?? 'worker'} (pid ${process.pid}): ${e instanceof Error ? e.message : String(e)}` })
  await finish(1)
}

const prepare = async (s: WorkerSetup): Promise<void> => {
  setup = s
  locker = await contestant(s.contestant).open(s.endpoints, { index: s.index, of: s.workers, key: s.key })
  const warmKey = `${s.key}:warm:${process.pid}`
  for (let i = 0; i < 20; i++) {
    const release = await locker.acquire(warmKey, s.ttlMs, s.timeoutMs)
    if (release === undefined) throw new Error(`warm-up acquisition of ${warmKey} was refused`)
    await release()
  }
  await send({ type: 'ready' })
}

/** When this process last heard it was handed the key: leaselock's handoff event, or the ring's turn message. */
let noticedAt = Number.NaN
const notice = (): void => {
  noticedAt = sharedNow()
}
subscribe('leaselock:handoff', notice)
subscribe(TURN_CHANNEL, notice)

const run = async (s: WorkerSetup, l: Locker, startAt: number, endAt: number): Promise<void> => {
  const acquisitions: Array<[number, number, number]> = []
  const failures: Array<[number, number]> = []
  const releaseDone: Array<number> = []
  const notified: Array<number> = []
  await sleep(Math.max(0, startAt - sharedNow()))
  while (sharedNow() < endAt) {
    const attemptAt = sharedNow()
    const release = await l.acquire(s.key, s.ttlMs, s.timeoutMs)
    const acquiredAt = sharedNow()
    const heard = noticedAt >= attemptAt ? noticedAt : Number.NaN
    noticedAt = Number.NaN
    if (release === undefined) {
      failures.push([attemptAt, acquiredAt])
      continue
    }
    await sleep(s.holdMs)
    const releasedAt = sharedNow()
    await release()
    acquisitions.push([attemptAt, acquiredAt, releasedAt])
    releaseDone.push(sharedNow())
    notified.push(heard)
    if (s.pauseMs > 0) await sleep(s.pauseMs)
  }
  await l.leave?.()
  await send({ type: 'done', record: { acquisitions, failures, releaseDone, notified } })
  await finish(0)
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'setup') prepare(m.setup).catch(fail)
  else if (setup !== undefined && locker !== undefined) run(setup, locker, m.startAt, m.endAt).catch(fail)
})
process.on('disconnect', () => {
  void finish(process.exitCode === undefined ? 1 : Number(process.exitCode))
})
