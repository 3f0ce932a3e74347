import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { Cluster, Redis, RedisOptions } from 'ioredis'
import { IoredisConnectionLostError, IoredisNotReadyError, IoredisTimeoutError, ioredisDriver } from '../adapters/ioredis.js'
import type { DriverError } from '../src/Driver.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { RedisDriver, redisStore } from '../src/redis/redisStore.js'
import { conformance } from './support/conformance.js'
import { sleep } from './support/expect.js'
import { handoffSuite } from './support/handoffSuite.js'
import { connectIoredis } from './support/ioredisConnection.js'
import { redisFaultSuite } from './support/redisFaultSuite.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { startSmallCluster } from './support/smallCluster.js'
import './support/noUnhandled.js'

const connected = async (url: string): Promise<RedisConnection> => {
  const { port } = new URL(url)
  const r = await connectIoredis({ port: Number(port), connectTimeoutMs: 2_000, commandTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(`connect failed: ${String(r.left)}`)
  return r.right
}

conformance('redis (ioredis)', async () => {
  const server = await startRedis()
  const connection = await connected(server.url)
  return {
    store: redisStore(connection.driver),
    close: async () => {
      await connection.close()
      await server.stop()
    }
  }
}, { ttlMs: 200, expiryWaitMs: 400, idempotentAcquire: true })

conformance('redis cluster of three masters (ioredis Cluster)', async () => {
  const cluster = await startSmallCluster()
  const client = new Cluster([...cluster.nodes], { lazyConnect: true })
  client.on('error', () => undefined)
  await client.connect()
  const driver = ioredisDriver(client, { commandTimeoutMs: 2_000 })
  return {
    store: redisStore(driver),
    close: async () => {
      await driver.close()
      await client.quit()
      await cluster.stop()
    }
  }
}, { ttlMs: 200, expiryWaitMs: 400, idempotentAcquire: true })

const OnCluster = suite('ioredis Cluster: wake-on-release across masters')
let cluster: Awaited<ReturnType<typeof startSmallCluster>>
const clusterClients: Cluster[] = []

OnCluster.before(async () => {
  cluster = await startSmallCluster()
})
OnCluster.after(async () => {
  for (const c of clusterClients) c.disconnect()
  await cluster.stop()
})

OnCluster('a release wakes the waiter of another client in a few ms, for keys on every master, although it would poll only after 10 s', async () => {
  const client = async (): Promise<Cluster> => {
    const c = new Cluster([...cluster.nodes], { lazyConnect: true })
    c.on('error', () => undefined)
    await c.connect()
    clusterClients.push(c)
    return c
  }
  const a = ioredisDriver(await client())
  const b = ioredisDriver(await client())
  const holder = makeLock(redisStore(a))
  const waiter = makeLock(redisStore(b), { retry: constantDelay(10_000) })
  // Slots 15495, 3300 and 7365: one key on each master (0-5460, 5461-10922, 10923-16383).
  for (const key of ['{a}', '{b}', '{c}']) {
    const held = await holder.acquire(key, 10_000, 0)()
    assert.ok(E.isRight(held), `acquired ${key}`)
    const waiting = waiter.acquire(key, 10_000, 20_000)()
    await sleep(100)
    const t0 = performance.now()
    if (E.isRight(held)) await holder.release(held.right)()
    const next = await waiting
    const ms = performance.now() - t0
    assert.ok(E.isRight(next) && ms < 500, `${key}: handed over after ${ms.toFixed(0)} ms`)
    if (E.isRight(next)) await waiter.release(next.right)()
  }
  await a.close()
  await b.close()
})

OnCluster.run()

handoffSuite('ioredis', connected)

redisFaultSuite('ioredis', connectIoredis, false)

const reply = async (driver: RedisDriver, command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
  return r.right
}

const failure = async (driver: RedisDriver, command: ReadonlyArray<string>): Promise<[DriverError, number]> => {
  const t0 = performance.now()
  const r = await driver.send(command)()
  if (E.isRight(r)) throw new Error(`${command.join(' ')} answered ${String(r.right)}, expected a failure`)
  return [r.left, performance.now() - t0]
}

const S = suite('ioredis driver')
let server: RedisServer
let admin: Redis
const clients: Redis[] = []

/** A client of the test server, closed after the suite. */
const client = (options: RedisOptions = {}): Redis => {
  const redis = new Redis({ host: server.host, port: server.port, retryStrategy: () => 50, ...options })
  redis.on('error', () => undefined)
  clients.push(redis)
  return redis
}

const pubsubClients = async (): Promise<number> =>
  String(await admin.call('CLIENT', ['LIST', 'TYPE', 'pubsub'])).split('\n').filter((l) => l.trim() !== '').length

S.before(async () => {
  server = await startRedis()
  admin = client()
})
S.after(async () => {
  for (const c of clients) c.disconnect()
  await server.stop()
})

S('replies come out as RedisReply values under RESP2 and RESP3 (both mappings); an error reply is a Right holding the Error', async () => {
  const key = `replies:${randomToken()}`
  await admin.call('HSET', [key, 'f', 'v'])
  const seen: Array<ReadonlyArray<RedisReply>> = []
  for (const options of [{ protocol: 2 as const }, { protocol: 3 as const }, { protocol: 3 as const, replyMapping: 'resp3' as const }]) {
    const driver = ioredisDriver(client(options), { subscribe: false })
    seen.push([
      await reply(driver, ['EVAL', "return {1, '2', {3}, false}", '0']),
      await reply(driver, ['HGETALL', key]),
      await reply(driver, ['GET', `missing:${randomToken()}`])
    ])
    const error = await reply(driver, ['NOSUCHCOMMAND'])
    assert.ok(error instanceof Error && /unknown command/i.test(error.message), String(error))
    await driver.close()
  }
  assert.equal(seen[0], [[1, '2', [3], null], ['f', 'v'], null])
  assert.equal(seen[1], seen[0])
  assert.equal(seen[2], seen[0])
})

S('a lazy client is connected by the first command', async () => {
  const redis = client({ lazyConnect: true })
  assert.is(redis.status, 'wait')
  const driver = ioredisDriver(redis, { subscribe: false })
  assert.is(await reply(driver, ['PING']), 'PONG')
  await driver.close()
})

S('a command sent while the client reconnects waits in the driver and, at its deadline, is withdrawn: determinate, never sent after the reconnection', async () => {
  const redis = client()
  const driver = ioredisDriver(redis, { commandTimeoutMs: 300, subscribe: false })
  assert.is(await reply(driver, ['PING']), 'PONG')
  const key = `withdrawn:${randomToken()}`
  await server.kill()
  try {
    for (let i = 0; i < 100 && redis.status === 'ready'; i++) await sleep(5)
    assert.is.not(redis.status, 'ready', 'the client saw the connection drop')
    const [e, ms] = await failure(driver, ['SET', key, 'late'])
    assert.is(e.indeterminate, false)
    assert.ok(e.cause instanceof IoredisTimeoutError && !e.cause.sent, String(e.cause))
    assert.ok(ms >= 290 && ms < 600, `withdrawn after ${ms} ms`)
  } finally {
    await server.restart()
  }
  for (let i = 0; i < 100 && redis.status !== 'ready'; i++) await sleep(20)
  assert.is(redis.status, 'ready')
  await sleep(100)
  assert.is(await admin.call('GET', [key]), null, 'ioredis never sent it: it was not left in its offline queue')
  assert.is(await reply(driver, ['SET', key, 'now']), 'OK', 'the same driver works again')
  await driver.close()
})

S('a closed client, or one not ready with its offline queue off, fails at once: determinate', async () => {
  const closed = client()
  const driver = ioredisDriver(closed, { subscribe: false })
  assert.is(await reply(driver, ['PING']), 'PONG')
  const ended = new Promise((resolve) => closed.once('end', resolve))
  await closed.quit()
  await ended
  const [e, ms] = await failure(driver, ['PING'])
  assert.ok(!e.indeterminate && e.cause instanceof IoredisNotReadyError, String(e.cause))
  assert.ok(ms < 50, `failed after ${ms} ms`)
  await driver.close()

  const strict = client({ lazyConnect: true, enableOfflineQueue: false })
  const strictDriver = ioredisDriver(strict, { subscribe: false })
  const [e2] = await failure(strictDriver, ['PING'])
  assert.ok(!e2.indeterminate && e2.cause instanceof IoredisNotReadyError, String(e2.cause))
  await strictDriver.close()
})

S('a frozen server: the command deadline gives an indeterminate failure; the late reply is ignored', async () => {
  const redis = client()
  const driver = ioredisDriver(redis, { commandTimeoutMs: 300, subscribe: false })
  assert.is(await reply(driver, ['PING']), 'PONG')
  server.pause()
  try {
    const [e, ms] = await failure(driver, ['INCR', 'frozen-counter'])
    assert.ok(e.indeterminate && e.cause instanceof IoredisTimeoutError && e.cause.sent, String(e.cause))
    assert.ok(ms >= 290 && ms < 600, `gave up after ${ms} ms`)
  } finally {
    server.resume()
  }
  assert.is(await reply(driver, ['INCR', 'frozen-counter']), 2, 'the timed-out INCR did run once the server woke up')
  await driver.close()
})

S('a connection lost with a command in flight: indeterminate at once, not at the deadline', async () => {
  const redis = client({ connectionName: 'doomed' })
  const driver = ioredisDriver(redis, { commandTimeoutMs: 3_000, subscribe: false })
  assert.is(await reply(driver, ['PING']), 'PONG')
  const blocked = failure(driver, ['BLPOP', `never:${randomToken()}`, '0'])
  await sleep(50)
  await admin.call('CLIENT', ['KILL', 'TYPE', 'normal', 'SKIPME', 'yes'])
  const [e, ms] = await blocked
  assert.ok(e.indeterminate && e.cause instanceof IoredisConnectionLostError, String(e.cause))
  assert.ok(ms < 1_000, `settled after ${ms} ms`)
  await driver.close()
})

S('close() removes the driver\'s listeners from the client and closes the subscriber connection, opened only by the first subscription', async () => {
  const redis = client()
  assert.is(await redis.ping(), 'PONG')
  const listeners = (): number => redis.listenerCount('ready') + redis.listenerCount('close')
  const before = listeners()
  const pubsubBefore = await pubsubClients()
  const driver = ioredisDriver(redis)
  assert.is(listeners(), before + 2)
  assert.is(await pubsubClients(), pubsubBefore, 'no subscriber connection before something waits')
  const messages: string[] = []
  const channel = `wake:${randomToken()}`
  assert.equal(await driver.subscribe!(channel, (m) => messages.push(m))(), E.right(undefined))
  assert.equal(await driver.subscribe!(`${channel}:2`, (m) => messages.push(`2:${m}`))(), E.right(undefined))
  assert.is(await pubsubClients(), pubsubBefore + 1, 'one subscriber connection for both channels')
  await admin.call('PUBLISH', [channel, 'one'])
  await admin.call('PUBLISH', [`${channel}:2`, 'two'])
  for (let i = 0; i < 50 && messages.length < 2; i++) await sleep(10)
  assert.equal(messages, ['one', '2:two'])
  await driver.close()
  assert.is(listeners(), before)
  assert.is(await pubsubClients(), pubsubBefore)
  const late = await driver.subscribe!(channel, () => undefined)()
  assert.ok(E.isLeft(late) && !late.left.indeterminate, 'a closed driver subscribes no more')
})

S('a frozen server: the subscriber fails to open within its connect deadline, and the next subscription opens it once the server is back', async () => {
  const redis = client()
  const driver = ioredisDriver(redis, { connectTimeoutMs: 300, commandTimeoutMs: 300 })
  assert.is(await reply(driver, ['PING']), 'PONG')
  server.pause()
  try {
    const t0 = performance.now()
    const failed = await driver.subscribe!('frozen', () => undefined)()
    assert.ok(E.isLeft(failed), 'no subscription while frozen')
    assert.ok(performance.now() - t0 < 700, `failed after ${performance.now() - t0} ms`)
  } finally {
    server.resume()
  }
  assert.equal(await driver.subscribe!('frozen', () => undefined)(), E.right(undefined))
  await driver.close()
})

S.run()
