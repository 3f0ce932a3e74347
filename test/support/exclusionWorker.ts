/**
 * A child process for the multi-process tests: it locks one key on a real
 * server, over the class API or the functional core, and reports what it saw.
 *
 * Started with one argument, a JSON {@link WorkerTask}. Forked with an IPC
 * channel, it says `{ ready: true }` once connected, waits for `'go'`, and
 * sends its {@link WorkerReport}; started without one, it starts at once and
 * prints the report as JSON on stdout. Either way it never calls
 * `process.exit`: it ends when nothing is left running, which is what the
 * hygiene test checks.
 */
import { readFile, writeFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { RedisLock } from '../../adapters/redis.js'
import { connectRedis } from '../../adapters/node-redis.js'
import { connectRedisCluster } from '../../adapters/node-redis-cluster.js'
import { MemcachedLock } from '../../adapters/memcached.js'
import { connectMemcached } from '../../adapters/memjs.js'
import { LeaseLostError } from '../../src/KeepAlive.js'
import { Lock, makeLock } from '../../src/Lock.js'
import { LockError, LockException, code } from '../../src/LockError.js'
import { constantDelay, fullJitter } from '../../src/RetryPolicy.js'
import type { LockComponent, BaseOptions } from '../../src/compat/LockComponent.js'
import { redisStore } from '../../src/redis/redisStore.js'
import { memcachedStore } from '../../src/memcached/memcachedStore.js'
import { serveWorker } from './workerProtocol.js'

/** What a worker is asked to do. */
export interface WorkerTask {
  /** `redis-cluster`: `host`/`port` is one node of a Redis Cluster (the client discovers the others). */
  readonly backend: 'redis' | 'redis-cluster' | 'memcached'
  readonly host: string
  readonly port: number
  /**
   * - `count`: `iterations` critical sections on `key`, each a read-modify-write
   *   of the number in `counterFile` with a `holdMs` pause between read and write;
   * - `lost`: the same through `withLock` with auto-renewal off, reporting per
   *   section whether the lease-lost signal fired and how the release ended
   *   (the `api` must be `core`);
   * - `exit`: open, lock, let a second instance wait on the held key, close
   *   everything, and end.
   */
  readonly mode: 'count' | 'lost' | 'exit'
  readonly api: 'class' | 'core'
  readonly key: string
  readonly iterations: number
  readonly ttlMs: number
  readonly holdMs: number
  readonly timeoutMs: number
  readonly counterFile: string
}

/** One critical section on the machine's shared monotonic clock (`process.hrtime`; a process's `performance.timeOrigin` can be off by milliseconds). */
export interface Section {
  readonly start: number
  readonly end: number
  /** `lost` mode: the signal's reason when it fired before the section ended. */
  readonly signal?: string
  /** `lost` mode: how `withLock` ended (`ok`, or the error code, e.g. `NOT_HELD`). */
  readonly outcome?: string
}

/** What a worker reports. */
export interface WorkerReport {
  readonly sections: ReadonlyArray<Section>
  /** Failures, as `code: message`; none expected. */
  readonly errors: ReadonlyArray<string>
}

const task = JSON.parse(process.argv[2] ?? '{}') as WorkerTask
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const retry = fullJitter(Math.random)(constantDelay(10))
const describe = (e: LockError): string => `${code(e)}: ${e._tag === 'DriverFailure' ? String(e.cause) : e._tag}`

/** The unprotected read-modify-write that only the lock keeps consistent. */
const increment = async (): Promise<void> => {
  const n = Number(await readFile(task.counterFile, 'utf8'))
  await sleep(task.holdMs)
  await writeFile(task.counterFile, String(n + 1))
}

interface Opened {
  readonly lock: Lock
  readonly close: () => Promise<void>
}

const openCore = async (): Promise<Opened> => {
  const deadlines = { connectTimeoutMs: 5000, commandTimeoutMs: 2000 }
  if (task.backend === 'redis-cluster') {
    const c = await connectRedisCluster({ rootNodes: [{ host: task.host, port: task.port }], ...deadlines })()
    if (E.isLeft(c)) throw new LockException(c.left)
    return { lock: makeLock(redisStore(c.right.driver), { retry }), close: c.right.close }
  }
  if (task.backend === 'redis') {
    const c = await connectRedis({ host: task.host, port: task.port, ...deadlines })()
    if (E.isLeft(c)) throw new LockException(c.left)
    return { lock: makeLock(redisStore(c.right.driver), { retry }), close: c.right.close }
  }
  const c = await connectMemcached({ servers: [{ host: task.host, port: task.port }], ...deadlines })()
  if (E.isLeft(c)) throw new LockException(c.left)
  return { lock: makeLock(memcachedStore(c.right.driver), { retry }), close: c.right.close }
}

const openClass = async (): Promise<LockComponent<BaseOptions>> => {
  const component = task.backend === 'memcached' ? new MemcachedLock() : new RedisLock()
  component.configure({
    connection: { host: task.host, port: task.port },
    options: { retry_timeout: 10, connect_timeout: 5000, command_timeout: 2000, ...(task.backend === 'redis-cluster' ? { mode: 'cluster' } : {}) }
  })
  await component.open('exclusion')
  return component
}

const countWithClass = async (sections: Array<Section>): Promise<void> => {
  const component = await openClass()
  try {
    for (let i = 0; i < task.iterations; i++) {
      await component.acquireLock('exclusion', task.key, task.ttlMs, task.timeoutMs)
      const start = now()
      await increment()
      const end = now()
      await component.releaseLock('exclusion', task.key)
      sections.push({ start, end })
    }
  } finally {
    await component.close('exclusion')
  }
}

const countWithCore = async (sections: Array<Section>, errors: Array<string>): Promise<void> => {
  const { lock, close } = await openCore()
  try {
    for (let i = 0; i < task.iterations; i++) {
      const done = await lock.withLock(task.key, task.ttlMs, { timeoutMs: task.timeoutMs }, () => async () => {
        const start = now()
        await increment()
        return E.right({ start, end: now() })
      })()
      if (E.isLeft(done)) errors.push(describe(done.left))
      else sections.push(done.right)
    }
  } finally {
    await close()
  }
}

/** Holds past the TTL (no renewal) and reports what the library said about it. */
const holdPastTtl = async (sections: Array<Section>, errors: Array<string>): Promise<void> => {
  const { lock, close } = await openCore()
  try {
    for (let i = 0; i < task.iterations; i++) {
      let section: { start: number; end: number; signal?: string } | undefined
      const done = await lock.withLock(task.key, task.ttlMs, { timeoutMs: task.timeoutMs, autoRenew: false }, (_lease, signal) => async () => {
        const start = now()
        await increment()
        const end = now()
        const reason: unknown = signal.reason
        section = {
          start,
          end,
          ...(signal.aborted ? { signal: reason instanceof LeaseLostError ? `${reason.name}:${reason.why}` : String(reason) } : {})
        }
        return E.right(undefined)
      })()
      if (section === undefined) errors.push(E.isLeft(done) ? describe(done.left) : 'no section')
      else sections.push({ ...section, outcome: E.isLeft(done) ? code(done.left) : 'ok' })
    }
  } finally {
    await close()
  }
}

/** Everything a user may leave open, closed the documented way; the process must then end by itself. */
const openLockClose = async (errors: Array<string>): Promise<void> => {
  const holder = await openClass()
  const waiter = await openClass()
  await holder.acquireLock('exit', task.key, task.ttlMs, 0)
  const waiting = waiter.acquireLock('exit', task.key, task.ttlMs, task.timeoutMs).then(
    () => 'acquired',
    (e: unknown) => (e instanceof LockException ? e.code : String(e))
  )
  await sleep(task.holdMs)
  await holder.close('exit')
  const outcome = await waiting
  if (outcome !== 'acquired') errors.push(`the waiter ended with ${outcome}, expected to be handed the key`)
  await waiter.close('exit')

  const { lock, close } = await openCore()
  const lease = await lock.acquire(task.key, task.ttlMs, task.timeoutMs)()
  if (E.isLeft(lease)) errors.push(describe(lease.left))
  const held = await lock.tryAcquire(`${task.key}:other`, task.ttlMs)()
  if (E.isLeft(held) || O.isNone(held.right)) errors.push('tryAcquire of a free key failed')
  await close()
}

const run = async (): Promise<WorkerReport> => {
  const sections: Array<Section> = []
  const errors: Array<string> = []
  try {
    if (task.mode === 'count' && task.api === 'class') await countWithClass(sections)
    else if (task.mode === 'count') await countWithCore(sections, errors)
    else if (task.mode === 'lost') await holdPastTtl(sections, errors)
    else await openLockClose(errors)
  } catch (e) {
    errors.push(e instanceof LockException ? `${e.code}: ${e.message}` : String(e))
  }
  return { sections, errors }
}

serveWorker(run)
