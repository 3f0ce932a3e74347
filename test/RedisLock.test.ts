import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { Redis, ReplyError } from 'ioredis'
import { RedisLock } from '../adapters/redis.js'
import { connectRedis } from '../adapters/node-redis.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import { driverError } from '../src/Driver.js'
import { randomToken } from '../src/Environment.js'
import type { Lease } from '../src/Lease.js'
import type { Lock } from '../src/Lock.js'
import type { RedisConnection, RedisConnector } from '../src/redis/RedisConnection.js'
import { RedisLockComponent, redisConnectOptions, decodeRedisOptions } from '../src/redis/RedisLock.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { freePort } from './support/freePort.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep, thrown } from './support/expect.js'

const PASSWORD = 'p@ss word/1'

const opened = async (config: Record<string, unknown> | ConfigParams): Promise<RedisLock> => {
  const lock = new RedisLock()
  lock.configure(config)
  await lock.open(null)
  return lock
}

const core = (lock: RedisLock): Lock => {
  const l = lock.lock()
  if (E.isLeft(l)) throw new Error('not opened')
  return l.right
}

let plain: RedisServer
let secured: RedisServer
let raw: RedisConnection
const opens: RedisLock[] = []
const open = async (config: Record<string, unknown> | ConfigParams): Promise<RedisLock> => {
  const lock = await opened(config)
  opens.push(lock)
  return lock
}
const rawSend = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await raw.driver.send(command)()
  if (E.isLeft(r)) throw new Error(String(r.left.cause))
  return r.right
}

const Fixture = suite('RedisLock: the original fixture')

Fixture.before(async () => {
  plain = await startRedis()
  secured = await startRedis({ args: ['--requirepass', PASSWORD] })
  const connected = await connectRedis({ uri: plain.url })()
  if (E.isLeft(connected)) throw new Error('raw connection failed')
  raw = connected.right
})

Fixture('tryAcquireLock (lock_1)', async () => {
  const lock = await open(ConfigParams.fromTuples('host', '127.0.0.1', 'port', plain.port))
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), true)
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), false)
  await lock.releaseLock('123', 'lock_1')
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), true)
  await lock.releaseLock('123', 'lock_1')
})

Fixture('acquireLock (lock_2): the second call times out with LOCK_TIMEOUT', async () => {
  const lock = await open(ConfigParams.fromTuples('host', '127.0.0.1', 'port', plain.port))
  await lock.acquireLock('123', 'lock_2', 3000, 1000)
  const t0 = performance.now()
  const e = await thrown(() => lock.acquireLock('123', 'lock_2', 3000, 300))
  const waited = performance.now() - t0
  assert.is(e.code, 'LOCK_TIMEOUT')
  assert.match(e.message, /^Acquiring lock lock_2 failed on timeout \([1-9][0-9]* attempts? in [0-9]+ ms; held for [0-9]+ ms more, 0 waiting\)$/)
  assert.is(e.traceId, '123')
  assert.ok(waited >= 290 && waited < 700, `gave up after ${waited} ms`)
  await lock.releaseLock('123', 'lock_2')
  await lock.acquireLock('123', 'lock_2', 3000, 1000)
  await lock.releaseLock('123', 'lock_2')
})

Fixture('releaseLock (lock_3): releasing twice does not throw', async () => {
  const lock = await open(ConfigParams.fromTuples('host', '127.0.0.1', 'port', plain.port))
  assert.is(await lock.tryAcquireLock('123', 'lock_3', 3000), true)
  await lock.releaseLock('123', 'lock_3')
  await lock.releaseLock('123', 'lock_3')
  assert.is(await rawSend(['EXISTS', 'lock_3']), 0)
})

Fixture.after(async () => {
  await Promise.all(opens.splice(0).map((l) => l.close()))
})

const Safety = suite('RedisLock: expiry and safety between instances')
let prefix = ''
Safety.before(() => {
  prefix = `safety-${randomToken()}`
})
Safety.after(async () => {
  await Promise.all(opens.splice(0).map((l) => l.close()))
})

Safety('a lock taken with a short TTL expires and can be taken again', async () => {
  const a = await open({ connection: { uri: plain.url } })
  const b = await open({ connection: { uri: plain.url } })
  const key = `${prefix}:expiry`
  assert.ok(await a.tryAcquireLock(null, key, 100))
  assert.not.ok(await b.tryAcquireLock(null, key, 3000))
  await sleep(150)
  assert.ok(await b.tryAcquireLock(null, key, 3000), 'free after the TTL')
  await b.releaseLock(null, key)
})

Safety('instance B can neither release nor extend the lock instance A holds', async () => {
  const a = await open({ connection: { uri: plain.url } })
  const b = await open({ connection: { uri: plain.url } })
  const key = `${prefix}:foreign`
  assert.ok(await a.tryAcquireLock(null, key, 3000))
  await b.releaseLock(null, key)
  assert.not.ok(await b.tryAcquireLock(null, key, 3000), 'still held by A')
  const forged: Lease = { key, token: randomToken(), ttlMs: 3000, acquiredAt: 0, validUntil: 0, fence: 0n, revision: '0' }
  const extended = await core(b).extend(forged, 60_000)()
  assert.ok(E.isLeft(extended) && extended.left._tag === 'NotHeld')
  const pttl = await rawSend(['PTTL', key])
  assert.ok(typeof pttl === 'number' && pttl <= 3000, 'the TTL is A’s, not extended')
  await a.releaseLock(null, key)
  assert.is(await rawSend(['EXISTS', key]), 0, 'A releases its own lock')
})

Safety('a release after our TTL expired and another instance acquired leaves the new holder in place', async () => {
  const a = await open({ connection: { uri: plain.url } })
  const b = await open({ connection: { uri: plain.url } })
  const key = `${prefix}:late-release`
  assert.ok(await a.tryAcquireLock(null, key, 80))
  await sleep(120)
  assert.ok(await b.tryAcquireLock(null, key, 3000))
  await a.releaseLock(null, key)
  assert.is(await rawSend(['EXISTS', key]), 1, 'B still holds the key')
  assert.not.ok(await a.tryAcquireLock(null, key, 3000))
  await b.releaseLock(null, key)
})

Safety('acquireLock waits for another instance to release; close releases what the instance holds', async () => {
  const a = await opened({ connection: { uri: plain.url }, 'options.retry_timeout': 20 })
  const b = await open({ connection: { uri: plain.url }, 'options.retry_timeout': 20 })
  const key = `${prefix}:wait`
  assert.ok(await a.tryAcquireLock(null, key, 5000))
  const waiting = b.acquireLock(null, key, 5000, 2000)
  await sleep(100)
  const t0 = performance.now()
  await a.close()
  await waiting
  assert.ok(performance.now() - t0 < 500, 'B got the lock soon after A closed')
  assert.not.ok(a.isOpen())
  assert.is(await rawSend(['EXISTS', key]), 1, 'held by B')
  await b.releaseLock(null, key)
  assert.is(await rawSend(['EXISTS', key]), 0)
})

Safety('fencing tokens through the component grow with every acquisition', async () => {
  const a = await open({ connection: { uri: plain.url } })
  const b = await open({ connection: { uri: plain.url } })
  const key = `${prefix}:fenced`
  const fences: bigint[] = []
  for (const lock of [a, b, a, b]) {
    const lease = await core(lock).tryAcquire(key, 3000)()
    if (E.isLeft(lease) || O.isNone(lease.right)) throw new Error('not acquired')
    fences.push(lease.right.value.fence)
    assert.ok(E.isRight(await core(lock).release(lease.right.value)()))
  }
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!)
})

const Config = suite('RedisLock: configuration forms')
Config.after(async () => {
  await Promise.all(opens.splice(0).map((l) => l.close()))
})

const works = async (lock: RedisLock): Promise<void> => {
  const key = `config-${randomToken()}`
  assert.ok(await lock.tryAcquireLock(null, key, 1000))
  await lock.releaseLock(null, key)
}

Config('flat dotted keys, nested objects, numbers as strings, connections.<name>', async () => {
  await works(await open({ 'connection.host': '127.0.0.1', 'connection.port': String(plain.port) }))
  await works(await open({ connection: { host: '127.0.0.1', port: plain.port } }))
  await works(await open(ConfigParams.fromTuples('connection.uri', plain.url)))
  await works(await open({ connections: { a: { uri: plain.url }, b: { host: 'nowhere.invalid', port: 1 } } }))
  await works(await open({ uri: plain.url }))
  await works(await open({ connection: { protocol: 'redis', host: '127.0.0.1', port: plain.port } }))
})

Config('host defaults to localhost', async () => {
  const settings = {
    connections: [{ port: plain.port }],
    options: { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 1000, commandTimeoutMs: 1000, maxKeyBytes: 10 }
  }
  assert.equal(redisConnectOptions(settings), {
    host: 'localhost',
    port: plain.port,
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
    connectRetries: 3
  })
  assert.equal(redisConnectOptions({ ...settings, connections: [{}] }).port, 6379)
  assert.is(redisConnectOptions({ ...settings, connections: [{ protocol: 'rediss', host: '::1' }] }).uri, 'rediss://[::1]:6379')
  await works(await open({ port: plain.port }))
})

Config('password: in a URI, as a credential, with a username; database from the URI', async () => {
  const encoded = encodeURIComponent(PASSWORD)
  await works(await open({ connection: { uri: `redis://:${encoded}@127.0.0.1:${secured.port}` } }))
  await works(await open({ connection: { uri: `redis://default:${encoded}@127.0.0.1:${secured.port}` } }))
  await works(await open({ host: '127.0.0.1', port: secured.port, credential: { password: PASSWORD } }))
  await works(await open({ 'connection.uri': secured.url, 'credential.user': 'default', 'credential.pass': PASSWORD }))
  const db5 = await open({ connection: { uri: `redis://127.0.0.1:${plain.port}/5` } })
  const key = `db-${randomToken()}`
  assert.ok(await db5.tryAcquireLock(null, key, 5000))
  assert.is(await rawSend(['EXISTS', key]), 0, 'not in database 0')
  const in5 = await connectRedis({ uri: `${plain.url}/5` })()
  if (E.isLeft(in5)) throw new Error('database 5 connection failed')
  assert.equal(await in5.right.driver.send(['EXISTS', key])(), E.right(1), 'in database 5')
  await in5.right.close()
})

Config('discovery and credential store references', async () => {
  const lock = new RedisLock()
  lock.configure({ 'connection.discovery_key': 'locks', 'credential.store_key': 'locks' })
  const asked: string[] = []
  lock.setReferences({
    discovery: async (key, traceId) => {
      asked.push(`${key}/${traceId}`)
      return key === 'locks' ? { host: '127.0.0.1', port: secured.port } : undefined
    },
    credentials: async (key) => (key === 'locks' ? { password: PASSWORD } : undefined)
  })
  await lock.open('t-9')
  opens.push(lock)
  assert.equal(asked, ['locks/t-9'])
  await works(lock)
})

Config('a RedisLockComponent over an ioredis connector', async () => {
  const ioredisConnector: RedisConnector = (options) => async () => {
    const redis = new Redis({ host: options.host, port: options.port, lazyConnect: true, maxRetriesPerRequest: 1 })
    redis.on('error', () => undefined)
    await redis.connect()
    return E.right({
      driver: {
        send: ([command, ...args]) => () =>
          redis.call(command ?? '', args).then(
            (reply) => E.right(reply as RedisReply),
            (e: unknown) => (e instanceof ReplyError ? E.right(e as Error) : E.left(driverError(e, true)))
          )
      },
      close: async () => {
        await redis.quit()
      }
    })
  }
  const lock = new RedisLockComponent(ioredisConnector)
  lock.configure({ host: '127.0.0.1', port: plain.port })
  await lock.open(null)
  try {
    const key = `ioredis-${randomToken()}`
    assert.ok(await lock.tryAcquireLock(null, key, 1000))
    assert.not.ok(await lock.tryAcquireLock(null, key, 1000))
    assert.is(await rawSend(['EXISTS', key]), 1)
    await lock.releaseLock(null, key)
    assert.is(await rawSend(['EXISTS', key]), 0)
  } finally {
    await lock.close()
  }
})

const Errors = suite('RedisLock: errors')
Errors.after(async () => {
  await Promise.all(opens.splice(0).map((l) => l.close()))
  await raw.close()
  await plain.stop()
  await secured.stop()
})

Errors('bad values are INVALID_CONFIG naming the key and the value', async () => {
  const lock = new RedisLock()
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ 'connection.port': 'abc' }, 'connection.port: expected an integer in 1..65535, got "abc"'],
    [{ port: 70000 }, 'port'],
    [{ host: '127.0.0.1', 'options.retry_timeout': 'soon' }, 'options.retry_timeout'],
    [{ host: '127.0.0.1', 'options.connect_timeout': 0 }, 'options.connect_timeout'],
    [{ host: '127.0.0.1', 'options.command_timeout': '-5' }, 'options.command_timeout'],
    [{ host: '127.0.0.1', 'options.retries': 'many' }, 'options.retries'],
    [{ host: '127.0.0.1', 'options.max_key_size': 0 }, 'options.max_key_size: expected an integer in 1..536870912, got 0']
  ]
  for (const [config, expected] of cases) {
    const e = await thrown(() => lock.configure(config))
    assert.is(e.code, 'INVALID_CONFIG', JSON.stringify(config))
    assert.match(e.message, expected)
  }
  assert.equal(
    decodeRedisOptions({}),
    E.right({
      retryTimeoutMs: 100,
      retries: 3,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 3000,
      maxKeyBytes: 8192,
      mode: 'standalone',
      masterName: undefined,
      syncReplicas: 0,
      syncTimeoutMs: 500,
      fencing: true
    })
  )
})

Errors('a URI node-redis cannot use fails open with INVALID_CONFIG', async () => {
  const lock = new RedisLock()
  lock.configure({ uri: 'http://127.0.0.1:6379' })
  const e = await thrown(() => lock.open('t-1'))
  assert.is(e.code, 'INVALID_CONFIG')
  assert.match(e.message, 'uri')
  assert.is(e.traceId, 't-1')
  assert.not.ok(lock.isOpen())
})

Errors('nothing configured: NO_CONNECTION; not opened: NOT_OPENED, also after close', async () => {
  const empty = new RedisLock()
  const none = await thrown(() => empty.open('t-2'))
  assert.is(none.code, 'NO_CONNECTION')
  assert.is(none.message, 'Connection is not configured')
  const notOpen = await thrown(() => empty.tryAcquireLock({ traceId: 't-3' }, 'k', 1000))
  assert.is(notOpen.code, 'NOT_OPENED')
  assert.is(notOpen.message, 'Connection is not opened')
  assert.is(notOpen.traceId, 't-3')

  const lock = await opened({ uri: plain.url })
  assert.ok(lock.isOpen())
  await lock.close('t-4')
  assert.not.ok(lock.isOpen())
  assert.is((await thrown(() => lock.acquireLock(null, 'k', 1000, 0))).code, 'NOT_OPENED')
  assert.is((await thrown(() => lock.releaseLock(null, 'k'))).code, 'NOT_OPENED')
  await lock.close()
})

Errors('bad arguments are INVALID_ARGUMENT before any I/O', async () => {
  const lock = await open({ uri: plain.url })
  assert.is((await thrown(() => lock.tryAcquireLock(null, '', 1000))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.tryAcquireLock(null, 'k', 0))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.acquireLock(null, 'k', 1000, -1))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.tryAcquireLock(null, 'a}b', 1000))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.tryAcquireLock(null, 'jobs:fence', 1000))).code, 'INVALID_ARGUMENT')
  const small = await open({ uri: plain.url, 'options.max_key_size': 4 })
  const tooLong = await thrown(() => small.tryAcquireLock(null, 'abcde', 1000))
  assert.is(tooLong.code, 'INVALID_ARGUMENT')
  assert.match(tooLong.message, 'at most 4 bytes')
})

Errors('a wrong password fails open at once with the server message', async () => {
  const lock = new RedisLock()
  lock.configure({ host: '127.0.0.1', port: secured.port, 'credential.password': 'wrong', 'options.connect_timeout': 3000 })
  const t0 = performance.now()
  const e = await thrown(() => lock.open('t-5'))
  assert.ok(performance.now() - t0 < 1000)
  assert.is(e.code, 'CONNECT_FAILED')
  assert.match(e.message, `Cannot connect to 127.0.0.1:${secured.port}: the server refused the connection`)
  assert.match(e.message, /WRONGPASS|invalid username-password/)
  assert.is(e.traceId, 't-5')
  assert.not.ok(lock.isOpen())
})

Errors('no server answers: open fails within its connect timeout, with a clear error', async () => {
  const port = await freePort()
  const refused = new RedisLock()
  refused.configure({ host: '127.0.0.1', port, 'options.connect_timeout': 2000 })
  const t0 = performance.now()
  const e = await thrown(() => refused.open(null))
  assert.ok(performance.now() - t0 < 1000, 'three retries 100 ms apart, well within the timeout')
  assert.is(e.code, 'CONNECT_FAILED')
  assert.match(e.message, `Cannot connect to 127.0.0.1:${port}: connection failed`)
  assert.match(e.message, 'ECONNREFUSED')

  const frozen = await startRedis()
  frozen.pause()
  try {
    const lock = new RedisLock()
    lock.configure({ uri: frozen.url, 'options.connect_timeout': 300 })
    const t1 = performance.now()
    const f = await thrown(() => lock.open(null))
    const ms = performance.now() - t1
    assert.ok(ms >= 290 && ms < 800, `failed after ${ms} ms`)
    assert.match(f.message, '300 ms')
    assert.not.ok(lock.isOpen())
  } finally {
    await frozen.stop()
  }
})

Fixture.run()
Safety.run()
Config.run()
Errors.run()
