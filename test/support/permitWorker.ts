/**
 * A child process for the multi-process permit tests: it takes `iterations`
 * permits of one key on a real server (a semaphore permit, a read lease or
 * the write lease), holds each `holdMs`, and reports each section on the
 * machine's shared monotonic clock (`process.hrtime`). Started with one
 * argument, a JSON {@link PermitTask}; see `workerProtocol.ts`.
 */
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../../adapters/node-redis.js'
import { LockError, code } from '../../src/LockError.js'
import { constantDelay, fullJitter } from '../../src/RetryPolicy.js'
import type { Permit } from '../../src/permits/Permits.js'
import { makeReadWriteLock } from '../../src/permits/ReadWriteLock.js'
import { makeSemaphore } from '../../src/permits/Semaphore.js'
import { redisPermitStore } from '../../src/redis/redisPermitStore.js'
import { serveWorker } from './workerProtocol.js'

/** What a permit worker is asked to do. */
export interface PermitTask {
  readonly backend: 'redis'
  readonly host: string
  readonly port: number
  readonly kind: 'permit' | 'read' | 'write'
  readonly key: string
  /** The semaphore's limit (`permit` only). */
  readonly limit: number
  readonly iterations: number
  readonly ttlMs: number
  readonly holdMs: number
  readonly timeoutMs: number
  readonly pollMs: number
}

/** One section: when it began and ended (ms on the shared monotonic clock), and under which permit. */
export interface PermitSection {
  readonly start: number
  readonly end: number
  readonly kind: PermitTask['kind']
  readonly fence: string
}

/** What a permit worker reports. */
export interface PermitReport {
  readonly sections: ReadonlyArray<PermitSection>
  readonly errors: ReadonlyArray<string>
}

const task = JSON.parse(process.argv[2] ?? '{}') as PermitTask
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const describe = (e: LockError): string => `${code(e)}: ${e._tag === 'DriverFailure' ? String(e.cause) : JSON.stringify(e)}`

const run = async (): Promise<PermitReport> => {
  const sections: Array<PermitSection> = []
  const errors: Array<string> = []
  const connected = await connectRedis({ host: task.host, port: task.port, connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 })()
  if (E.isLeft(connected)) return { sections, errors: [describe(connected.left)] }
  const store = redisPermitStore(connected.right.driver)
  const options = { retry: fullJitter(Math.random)(constantDelay(task.pollMs)) }
  const semaphore = makeSemaphore(store, options)
  const rw = makeReadWriteLock(store, options)
  const acquire = (): Promise<E.Either<LockError, Permit>> =>
    (task.kind === 'permit'
      ? semaphore.acquire(task.key, task.limit, task.ttlMs, task.timeoutMs)
      : task.kind === 'read'
        ? rw.acquireRead(task.key, task.ttlMs, task.timeoutMs)
        : rw.acquireWrite(task.key, task.ttlMs, task.timeoutMs))()
  try {
    for (let i = 0; i < task.iterations; i++) {
      const permit = await acquire()
      if (E.isLeft(permit)) {
        errors.push(describe(permit.left))
        continue
      }
      const start = now()
      await sleep(task.holdMs)
      const end = now()
      sections.push({ start, end, kind: task.kind, fence: String(permit.right.fence) })
      const released = await semaphore.release(permit.right)()
      if (E.isLeft(released)) errors.push(describe(released.left))
    }
  } finally {
    await connected.right.close()
  }
  return { sections, errors }
}

serveWorker(run)
