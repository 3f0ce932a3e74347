/**
 * The strongest of the hostile scenarios that hold, kept as regressions: a
 * waiting process really stopped (SIGSTOP) across a handover, the lapse of
 * its claim and a newer holder, on a real redis-server; and two keys that
 * share a queue but not a counter ("k" and "{k}"), interleaved so that a
 * poll claims a handover while the other key is handed over too.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis, redisStore, type RedisDriver } from '../adapters/redis.js'
import { randomToken } from '../src/Environment.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import type { WaiterReport, WaiterTask } from './support/stalledWaiter.js'
import { awaitStopped } from './support/stopped.js'
import { sleep } from './support/expect.js'

/** The compiled worker next to this file (or its source when this file runs under tsx). */
const WAITER = fileURLToPath(new URL(`./support/stalledWaiter${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))

let server: RedisServer
let admin: RedisConnection
const connections: RedisConnection[] = []
let prefix = ''
let n = 0
const freshKey = (): string => `${prefix}:${n++}`

const connect = async (): Promise<RedisConnection> => {
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000, commandTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  connections.push(r.right)
  return r.right
}
const send = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await admin.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
  return r.right
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${message(r.left)}`)
  return r.right
}
const queueLength = async (key: string): Promise<number> => Number(await send(['ZCARD', `{${key}}:queue`])) / 2
const queued = async (key: string, length: number): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if ((await queueLength(key)) === length) return
    await sleep(5)
  }
  throw new Error(`the queue of ${key} never reached ${length}`)
}

/** Waits until `ready()` holds, for at most `ms`. */
const until = async (what: string, ready: () => boolean, ms = 2_000): Promise<void> => {
  for (const start = performance.now(); !ready(); await sleep(5)) if (performance.now() - start > ms) throw new Error(`${what} did not happen within ${ms} ms`)
}

const S = suite('attack (redis): scenarios that hold')

S.before(async () => {
  server = await startRedis()
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  admin = r.right
  prefix = `stall-${randomToken()}`
})

S.after(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()))
  await admin.close()
  await server.stop()
})

S('a waiting process stopped across its handover, the lapse of its claim and a newer holder is not answered until the key is really its own', async () => {
  const k = freshKey()
  const holder = makeLock(redisStore((await connect()).driver))
  const first = leaseOf(await holder.acquire(k, 60_000, 0)())
  const task: WaiterTask = { port: server.port, key: k, ttlMs: 5_000, timeoutMs: 20_000, claimMs: 200, pollMs: 300 }
  const child: ChildProcess = fork(WAITER, [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try {
    const reports: Array<WaiterReport> = []
    const ready = new Promise<void>((resolve) =>
      child.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && 'ready' in m) resolve()
        else reports.push(m as WaiterReport)
      })
    )
    await ready
    child.send('go')
    await queued(k, 1)
    child.kill('SIGSTOP')
    awaitStopped(child.pid)
    await holder.release(first)() // handed to the stopped waiter for its 200 ms claim
    await sleep(400) // the claim lapses unclaimed
    const intruder = leaseOf(await holder.acquire(k, 60_000, 0)())
    child.kill('SIGCONT') // the notification and the poll timer are both due at once
    await sleep(800) // ... and the waiter polls, finds the intruder and queues again
    assert.equal(reports, [], 'no lease answered while the intruder holds the key')
    assert.is(await send(['GET', k]), intruder.token)
    assert.is(await queueLength(k), 1, 'the waiter is back in the queue')
    await holder.release(intruder)()
    await until('the handover to the waiter', () => reports.length > 0)
    const report = reports[0]
    assert.ok(report !== undefined && 'lease' in report, `the waiter reported ${JSON.stringify(report)}`)
    if (!('lease' in report)) return
    assert.is(await send(['GET', k]), report.lease.token, 'the lease it believes is the one the server holds')
    assert.ok(BigInt(report.lease.fence) > intruder.fence, 'with a fence above the intruder\'s')
    assert.ok(report.lease.believedMs > 0 && report.lease.believedMs <= 5_000)
    child.send('release')
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())))
    assert.is(await send(['EXISTS', k]), 0, 'released and nobody else waits')
  } finally {
    clearTimeout(killer)
    child.kill('SIGKILL')
  }
})

/** A driver whose pub/sub messages are held back until `flush`. */
const lagging = (driver: RedisDriver) => {
  const held: Array<() => void> = []
  return {
    driver: { send: driver.send, subscribe: (channel: string, on: (m: string) => void) => driver.subscribe!(channel, (m) => held.push(() => on(m))) } as RedisDriver,
    held: () => held.length,
    flush: () => held.splice(0).forEach((f) => f())
  }
}

S('"k" and "{k}" share a queue but not a counter: the other key\'s handover leaves k\'s counter alone, and a poll that claims a lapsed-notification handover answers its fence', async () => {
  const k = freshKey()
  const tagged = `{${k}}`
  const late = lagging((await connect()).driver)
  const waiter = makeLock(redisStore(late.driver, { claimMs: 2_000 }), { retry: constantDelay(300) })
  const other = makeLock(redisStore((await connect()).driver), { retry: constantDelay(10_000) })
  const onK = leaseOf(await other.acquire(k, 60_000, 0)())
  const onTagged = leaseOf(await other.acquire(tagged, 60_000, 0)())
  const taggedWaiter = other.acquire(tagged, 60_000, 10_000)()
  await queued(k, 1)
  const answer = waiter.acquire(k, 5_000, 10_000)()
  await queued(k, 2)
  await other.release(onK)() // hands k to the waiter: its notification is held back
  await until('the handover notification to the waiter of k', () => late.held() > 0)
  const handedFence = BigInt(String(await send(['GET', `${tagged}:fence`])))
  await other.release(onTagged)() // hands {k} to its own waiter: {k}'s own counter moves
  const nextTagged = leaseOf(await taggedWaiter)
  assert.ok(nextTagged.fence > onTagged.fence)
  assert.is(BigInt(String(await send(['GET', `${tagged}:fence`]))), handedFence, "k's counter did not move")
  const lease = leaseOf(await answer) // the waiter's poll claims k before any notification
  assert.is(lease.fence, handedFence, 'the poll answers the fence of the handover')
  assert.is(await send(['GET', k]), lease.token)
  late.flush()
  await waiter.release(lease)()
  const after = leaseOf(await other.acquire(k, 1_000, 0)())
  assert.ok(after.fence > lease.fence, 'the next holder of k is above it')
  await other.release(after)()
  await other.release(nextTagged)()
})

S.run()
