/**
 * The dead-server scenario: leaselock on a Redis node and on a Memcached
 * server of its own, each killed (SIGKILL) for a while and restarted on the
 * same port. It measures how fast calls are answered while the server is up
 * and while it is down, how many connection attempts the client makes per
 * second of the outage (each TCP connect this process starts to that port),
 * and how long after the server is back the lock works again.
 *
 * @since 0.3.0
 */
import { Socket } from 'node:net'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { SERVER_BACKOFF_MAX_MS, ServerDownError, connectMemcached, memcachedStore } from '../adapters/memcached.js'
import { RECONNECT_MAX_MS, RedisServerDownError, connectRedis, redisStore } from '../adapters/redis.js'
import { Lock, makeLock } from '../src/Lock.js'
import { message } from '../src/LockError.js'
import { startMemcached } from '../test/support/memcachedServer.js'
import { startRedis } from '../test/support/redisServer.js'
import type { Outcome, Progress } from './scenarios.js'
import { Summary, ratio, summarize } from './stats.js'

/**
 * What one backend's outage produced, raw.
 *
 * @since 0.3.0
 */
export interface OutageSample {
  /** Each call's duration while the server was up, in ms. */
  readonly upMs: ReadonlyArray<number>
  /** Each call's duration while it was down, in ms. */
  readonly downMs: ReadonlyArray<number>
  /** How many of the calls while down were answered from the driver's backoff (a server-down cause). */
  readonly answeredDown: number
  /** TCP connections the client started to the server's port while it was down. */
  readonly connects: number
  readonly outageMs: number
  /** From the server answering again until the lock was taken again, in ms (`NaN` if it never was). */
  readonly recoverMs: number
  /** The driver's longest backoff step, in ms. */
  readonly backoffCapMs: number
}

/**
 * The figures of one backend's outage.
 *
 * @since 0.3.0
 */
export interface OutageFigures {
  readonly upCallMs: Summary
  readonly downCallMs: Summary
  /** Median call while down / median call while up. */
  readonly downP50XUp: number
  /** Share of the calls while down answered from the backoff (0 to 1). */
  readonly answeredDownShare: number
  readonly connectsPerSecond: number
  readonly recoverMs: number
  /** `recoverMs` / the longest backoff step: at most about 1 = within one step. */
  readonly recoverXBackoffCap: number
  readonly outageMs: number
  readonly backoffCapMs: number
}

/**
 * Summaries and ratios of an outage's sample.
 *
 * @example
 * import { outageFigures } from './deadServer.js'
 * const f = outageFigures({ upMs: [0.2, 0.2], downMs: [0.01, 0.01, 0.01, 0.01], answeredDown: 3, connects: 4, outageMs: 2000, recoverMs: 500, backoffCapMs: 1000 })
 * assert.strictEqual(f.connectsPerSecond, 2)
 * assert.strictEqual(f.answeredDownShare, 0.75)
 * assert.strictEqual(f.recoverXBackoffCap, 0.5)
 *
 * @since 0.3.0
 */
export const outageFigures = (s: OutageSample): OutageFigures => {
  const upCallMs = summarize(s.upMs)
  const downCallMs = summarize(s.downMs)
  return {
    upCallMs,
    downCallMs,
    downP50XUp: ratio(downCallMs.p50, upCallMs.p50),
    answeredDownShare: s.downMs.length > 0 ? s.answeredDown / s.downMs.length : Number.NaN,
    connectsPerSecond: s.outageMs > 0 ? (s.connects * 1000) / s.outageMs : Number.NaN,
    recoverMs: s.recoverMs,
    recoverXBackoffCap: ratio(s.recoverMs, s.backoffCapMs),
    outageMs: s.outageMs,
    backoffCapMs: s.backoffCapMs
  }
}

/** A server the scenario can kill and bring back on the same port. */
interface Killable {
  readonly port: number
  readonly kill: () => Promise<void>
  readonly restart: () => Promise<void>
  readonly stop: () => Promise<void>
}

/** One backend under test: its server, a lock over it, and what a call while it is down fails with. */
interface Subject {
  readonly server: Killable
  readonly lock: Lock
  readonly close: () => Promise<void>
  readonly isDown: (cause: unknown) => boolean
  readonly backoffCapMs: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The port a `Socket.prototype.connect` call goes to: its arguments are options, or `[options, callback]` from `net.connect`. */
const portOf = (args: ReadonlyArray<unknown>): unknown => {
  const first = Array.isArray(args[0]) ? (args[0] as ReadonlyArray<unknown>)[0] : args[0]
  return typeof first === 'object' && first !== null ? (first as { port?: unknown }).port : first
}

/** Counts the TCP connections this process starts to `port` while `run` runs. */
const connectsDuring = async <A>(port: number, run: () => Promise<A>): Promise<readonly [A, number]> => {
  const original = Socket.prototype.connect
  let connects = 0
  Socket.prototype.connect = function (this: Socket, ...args: Parameters<Socket['connect']>) {
    if (Number(portOf(args)) === port) connects++
    return original.apply(this, args)
  } as Socket['connect']
  try {
    return [await run(), connects]
  } finally {
    Socket.prototype.connect = original
  }
}

/** Times one `tryAcquire`, giving back what it took. */
const timedTry = async (lock: Lock, key: string): Promise<{ readonly ms: number; readonly got: boolean; readonly cause: unknown }> => {
  const t0 = performance.now()
  const r = await lock.tryAcquire(key, 10_000)()
  const ms = performance.now() - t0
  if (E.isRight(r) && O.isSome(r.right)) {
    await lock.release(r.right.value)()
    return { ms, got: true, cause: undefined }
  }
  return { ms, got: false, cause: E.isLeft(r) && r.left._tag === 'DriverFailure' ? r.left.cause : undefined }
}

const outage = async (subject: Subject, outageMs: number, upCalls: number): Promise<OutageSample> => {
  const { server, lock } = subject
  const upMs: number[] = []
  for (let i = 0; i < upCalls; i++) {
    const call = await timedTry(lock, `dead-server:${i % 16}`)
    if (!call.got) throw new Error(`the lock failed while the server was up: ${String(call.cause)}`)
    upMs.push(call.ms)
  }
  await server.kill()
  const [down, connects] = await connectsDuring(server.port, async () => {
    const calls: Array<{ readonly ms: number; readonly down: boolean }> = []
    const until = performance.now() + outageMs
    for (let i = 0; performance.now() < until; i++) {
      const call = await timedTry(lock, `dead-server:${i % 16}`)
      calls.push({ ms: call.ms, down: subject.isDown(call.cause) })
      await sleep(1)
    }
    return calls
  })
  await server.restart()
  const back = performance.now()
  let recoverMs = Number.NaN
  while (performance.now() - back < subject.backoffCapMs * 5) {
    if ((await timedTry(lock, 'dead-server:back')).got) {
      recoverMs = performance.now() - back
      break
    }
    await sleep(2)
  }
  return {
    upMs,
    downMs: down.map((c) => c.ms),
    answeredDown: down.filter((c) => c.down).length,
    connects,
    outageMs,
    recoverMs,
    backoffCapMs: subject.backoffCapMs
  }
}

const redisSubject = async (): Promise<Subject> => {
  const server = await startRedis({ args: ['--loglevel', 'warning'] })
  const connected = await connectRedis({ host: '127.0.0.1', port: server.port, connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 })()
  if (E.isLeft(connected)) {
    await server.stop()
    throw new Error(message(connected.left))
  }
  return {
    server,
    lock: makeLock(redisStore(connected.right.driver)),
    close: connected.right.close,
    isDown: (cause) => cause instanceof RedisServerDownError,
    backoffCapMs: RECONNECT_MAX_MS
  }
}

const memcachedSubject = async (): Promise<Subject> => {
  const server = await startMemcached({ args: ['-t', '1'] })
  const connected = await connectMemcached({ servers: [{ host: '127.0.0.1', port: server.port }], connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 })()
  if (E.isLeft(connected)) {
    await server.stop()
    throw new Error(message(connected.left))
  }
  return {
    server,
    lock: makeLock(memcachedStore(connected.right.driver)),
    close: connected.right.close,
    isDown: (cause) => cause instanceof ServerDownError,
    backoffCapMs: SERVER_BACKOFF_MAX_MS
  }
}

/**
 * Runs the outage of each backend asked for, one after the other, each on a
 * server of its own (the other scenarios' servers are not touched).
 *
 * @example
 * import { deadServers } from './deadServer.js'
 * const figures = await deadServers(['redis', 'memcached'], { outageMs: 2_000, upCalls: 200 }, console.error)
 *
 * @since 0.3.0
 */
export const deadServers = async (
  backends: ReadonlyArray<'redis' | 'memcached'>,
  options: { readonly outageMs: number; readonly upCalls: number },
  progress: Progress
): Promise<Record<string, Outcome<OutageFigures>>> => {
  const out: Record<string, Outcome<OutageFigures>> = {}
  for (const backend of backends) {
    let subject: Subject | undefined
    try {
      subject = await (backend === 'redis' ? redisSubject() : memcachedSubject())
      const figures = outageFigures(await outage(subject, options.outageMs, options.upCalls))
      progress(
        `  dead ${backend}: calls p50 ${figures.downCallMs.p50.toFixed(3)} ms while down (${figures.upCallMs.p50.toFixed(3)} ms up), ` +
          `${figures.connectsPerSecond.toFixed(1)} connects/s, back ${figures.recoverMs.toFixed(0)} ms after the server`
      )
      out[backend] = { ok: true, figures }
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e)
      progress(`  dead ${backend}: failed: ${error}`)
      out[backend] = { ok: false, error }
    } finally {
      await subject?.close()
      await subject?.server.stop()
    }
  }
  return out
}
