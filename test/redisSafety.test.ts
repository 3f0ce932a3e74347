/**
 * The handoff and keep-alive holes on a real redis-server: a notification
 * that lags the command connection past the claim TTL, a renewal that hangs
 * on a frozen server, and a release that fails after a partial write.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { connectRedis, redisStore, type RedisDriver } from '../adapters/redis.js'
import { randomToken } from '../src/Environment.js'
import { keepAlive, LeaseLostError } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep } from './support/expect.js'

let server: RedisServer
const connections: RedisConnection[] = []
let prefix = ''
let n = 0
const freshKey = (): string => `${prefix}:${n++}`

const connect = async (commandTimeoutMs = 2_000): Promise<RedisConnection> => {
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000, commandTimeoutMs })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  connections.push(r.right)
  return r.right
}
const send = async (c: RedisConnection, command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await c.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
  return r.right
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${message(r.left)}`)
  return r.right
}

/**
 * A driver of a stalled process: from `start` until `flush`, its pub/sub
 * messages are held back, and so are its commands (a stalled process sends
 * nothing, so its safety-net poll cannot claim the key meanwhile). `flush`
 * sends the held commands, waits for their replies, then delivers the messages.
 */
const stalledProcess = (driver: RedisDriver) => {
  const messages: Array<() => void> = []
  const commands: Array<() => void> = []
  let stalled = false
  const lagging: RedisDriver = {
    send: (command) => () =>
      stalled ? new Promise<Awaited<ReturnType<ReturnType<RedisDriver['send']>>>>((resolve) => commands.push(() => void driver.send(command)().then(resolve))) : driver.send(command)(),
    subscribe: (channel, onMessage) => driver.subscribe!(channel, (m) => (stalled ? messages.push(() => onMessage(m)) : onMessage(m)))
  }
  return {
    driver: lagging,
    start: () => (stalled = true),
    flush: async () => {
      stalled = false
      commands.splice(0).forEach((f) => f())
      await sleep(20)
      messages.splice(0).forEach((f) => f())
    },
    held: () => messages.length
  }
}

const S = suite('redis: handoff and keep-alive under hostile timing')

S.before(async () => {
  server = await startRedis()
  prefix = `safety-${randomToken()}`
})

S.after(async () => {
  await Promise.all(connections.map((c) => c.close()))
  await server.stop()
})

S('hole 1: a notification that lags past the claim TTL, behind a poll that found a newer holder, is not answered as a lease', async () => {
  const k = freshKey()
  const wc = await connect()
  const lagging = stalledProcess(wc.driver)
  const waiter = makeLock(redisStore(lagging.driver, { claimMs: 200 }), { retry: constantDelay(300) })
  const other = makeLock(redisStore((await connect()).driver))
  const holder = leaseOf(await other.acquire(k, 60_000, 0)())
  let answer: E.Either<LockError, Lease> | undefined
  const waiting = waiter.acquire(k, 2_000, 10_000)().then((r) => (answer = r))
  while (Number(await send(wc, ['ZCARD', `{${k}}:queue`])) === 0) await sleep(5)
  lagging.start()
  await other.release(holder)()
  while (lagging.held() === 0) await sleep(5)
  await sleep(250) // the claim lapses
  const intruder = leaseOf(await other.acquire(k, 60_000, 0)())
  await sleep(400)
  await lagging.flush() // the waiter's poll finds the intruder's key (and queues the waiter again), then the stale notification arrives
  await sleep(50)
  assert.is(answer, undefined, `no lease while the intruder holds the key (it holds ${String(await send(wc, ['GET', k]))})`)
  await other.release(intruder)()
  await lagging.flush()
  await waiting
  const lease = leaseOf(answer!)
  assert.ok(lease.fence > intruder.fence, 'handed over after the intruder, from its place at the head of the queue')
  assert.is(await send(wc, ['GET', k]), lease.token)
  await waiter.release(lease)()
})

S('hole 3: the lost-lease signal fires at validUntil while a renewal hangs on a frozen server', async () => {
  const k = freshKey()
  const lock = makeLock(redisStore((await connect(3_000)).driver))
  const lease = leaseOf(await lock.acquire(k, 600, 0)())
  const keeper = keepAlive(lock, lease, { renewFraction: 0.5 })
  let firedAt = 0
  keeper.signal.addEventListener('abort', () => (firedAt = performance.now()))
  await sleep(Math.max(0, lease.acquiredAt + 250 - performance.now()))
  server.pause() // the renewal at ~300 ms hangs for the 3 s command timeout
  await sleep(Math.max(0, lease.validUntil - performance.now()) + 150)
  try {
    assert.ok(keeper.signal.aborted, 'fired while the renewal still hangs')
    assert.is((keeper.signal.reason as LeaseLostError).why, 'expired')
    assert.ok(firedAt >= lease.validUntil - 1 && firedAt <= lease.validUntil + 100, `fired ${Math.round(firedAt - lease.validUntil)} ms after validUntil`)
  } finally {
    server.resume()
  }
  await lock.release(await keeper.stop())()
})

S('hole 9: a release that fails after a partial write (OOM under noeviction) is reported as indeterminate, and leaves the key ours', async () => {
  const k = freshKey()
  const admin = await connect()
  const lock = makeLock(redisStore((await connect()).driver))
  const store = redisStore((await connect()).driver)
  const lease = leaseOf(await lock.acquire(k, 60_000, 0)())
  assert.ok(E.isRight(await store.queue!.acquireOrEnqueue(k, 'waiter', 10_000, 60_000)()))
  await send(admin, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'])
  await send(admin, ['CONFIG', 'SET', 'maxmemory', '1'])
  let released: E.Either<LockError, void>
  try {
    released = await lock.release(lease)()
  } finally {
    await send(admin, ['CONFIG', 'SET', 'maxmemory', '0'])
  }
  assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure' && released.left.indeterminate, 'may have written')
  assert.is(await send(admin, ['GET', k]), lease.token, 'the SET of the handover was refused before anything changed')
  assert.equal(Number(await send(admin, ['ZCARD', `{${k}}:queue`])) / 2, 1, 'the waiter keeps its place')
  assert.equal(await lock.release(lease)(), E.right(undefined))
  assert.is(await send(admin, ['GET', k]), 'waiter', 'handed over once memory allows')
  await store.queue!.leave(k, 'waiter')()
})

S('hole 2 on a real server: the early lease of a waiter with a short claim TTL covers no more than it', async () => {
  const k = freshKey()
  const waiter = makeLock(redisStore((await connect()).driver, { claimMs: 150 }), { retry: constantDelay(10_000) })
  const releaser = makeLock(redisStore((await connect()).driver, { claimMs: 5_000 }))
  const holder = leaseOf(await releaser.acquire(k, 60_000, 0)())
  const waiting = waiter.acquire(k, 1_000, 10_000)()
  await sleep(50)
  await releaser.release(holder)()
  const lease = leaseOf(await waiting)
  assert.ok(lease.validUntil - lease.acquiredAt <= 150, `validity ${lease.validUntil - lease.acquiredAt} ms`)
  const confirmed = leaseOf(await waiter.confirm(lease)())
  assert.ok(confirmed.validUntil - confirmed.acquiredAt > 900, 'confirmed for its TTL')
  assert.ok(O.isSome(O.fromNullable(await send((await connect()), ['GET', k]))))
  await waiter.release(confirmed)()
})

S.run()
