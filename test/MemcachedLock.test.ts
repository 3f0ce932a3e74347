import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { MemcachedLock } from '../adapters/memcached.js'
import { connectMemcached } from '../adapters/memjs.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import { randomToken } from '../src/Environment.js'
import type { Lock } from '../src/Lock.js'
import type { MemcachedConnection } from '../src/memcached/MemcachedConnection.js'
import { decodeMemcachedOptions, memcachedConnectOptions } from '../src/memcached/MemcachedLock.js'
import { Status, getRequest } from '../src/memcached/protocol.js'
import { freePort } from './support/freePort.js'
import { MemcachedServer, startMemcached, startSaslMemcached } from './support/memcachedServer.js'
import { sleep, thrown } from './support/expect.js'


const core = (lock: MemcachedLock): Lock => {
  const l = lock.lock()
  if (E.isLeft(l)) throw new Error('not opened')
  return l.right
}

let server: MemcachedServer
let raw: MemcachedConnection
const opens: MemcachedLock[] = []
const open = async (config: Record<string, unknown> | ConfigParams): Promise<MemcachedLock> => {
  const lock = new MemcachedLock()
  lock.configure(config)
  opens.push(lock)
  await lock.open(null)
  return lock
}
const at = (s: MemcachedServer): ConfigParams => ConfigParams.fromTuples('connection.host', s.host, 'connection.port', s.port)
const peek = async (key: string): Promise<string | undefined> => {
  const r = await raw.driver.send(getRequest(key))()
  if (E.isLeft(r)) throw new Error(String(r.left.cause))
  return r.right.status === Status.NoError ? new TextDecoder().decode(r.right.value) : undefined
}

const setUp = async (): Promise<void> => {
  if (server !== undefined) return
  server = await startMemcached()
  const connected = await connectMemcached({ servers: [{ host: server.host, port: server.port }] })()
  if (E.isLeft(connected)) throw new Error('raw connection failed')
  raw = connected.right
}
const tearDown = async (): Promise<void> => {
  await Promise.all(opens.splice(0).map((l) => l.close().catch(() => undefined)))
}

// --- the original fixture -----------------------------------------------------------------------

const Fixture = suite('MemcachedLock: the original fixture')
Fixture.before(setUp)
Fixture.after(tearDown)

Fixture('tryAcquireLock (lock_1)', async () => {
  const lock = await open(at(server))
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), true)
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), false)
  await lock.releaseLock('123', 'lock_1')
  assert.is(await lock.tryAcquireLock('123', 'lock_1', 3000), true)
  await lock.releaseLock('123', 'lock_1')
})

Fixture('acquireLock (lock_2): the second acquire fails on timeout, after waiting the timeout', async () => {
  const lock = await open(at(server))
  await lock.acquireLock('123', 'lock_2', 3000, 1000)
  const started = performance.now()
  const e = await thrown(() => lock.acquireLock('123', 'lock_2', 3000, 300))
  const waited = performance.now() - started
  assert.is(e.code, 'LOCK_TIMEOUT')
  assert.match(e.message, /^Acquiring lock lock_2 failed on timeout \([1-9][0-9]* attempts? in [0-9]+ ms\)$/)
  assert.is(e.traceId, '123')
  assert.ok(waited >= 290 && waited < 1000, `waited ${waited.toFixed(0)} ms`)
  await lock.releaseLock('123', 'lock_2')
  await lock.acquireLock('123', 'lock_2', 3000, 1000)
  await lock.releaseLock('123', 'lock_2')
})

Fixture('releaseLock (lock_3): releasing twice does not throw', async () => {
  const lock = await open(at(server))
  assert.is(await lock.tryAcquireLock('123', 'lock_3', 3000), true)
  await lock.releaseLock('123', 'lock_3')
  await lock.releaseLock('123', 'lock_3')
  assert.is(await peek('lock_3'), undefined)
})

Fixture('the documentation example, in TypeScript', async () => {
  const lock = new MemcachedLock()
  lock.configure(ConfigParams.fromTuples('connection.host', 'localhost', 'connection.port', server.port))
  await lock.open('123')
  await lock.acquireLock('123', 'key1', 3000, 1000)
  try {
    assert.ok((await peek('key1')) !== undefined)
  } finally {
    await lock.releaseLock('123', 'key1')
  }
  await lock.close('123')
  assert.is(await peek('key1'), undefined)
  assert.is(lock.isOpen(), false)
})

Fixture.run()

// --- safety -------------------------------------------------------------------------------------

const Safety = suite('MemcachedLock: safety beyond the original')
Safety.before(setUp)
Safety.after(tearDown)

Safety('two instances never release each other’s locks; each holds its own token', async () => {
  const one = await open(at(server))
  const two = await open(at(server))
  const key = `shared-${randomToken()}`
  assert.is(await one.tryAcquireLock(null, key, 10_000), true)
  const token = await peek(key)
  assert.ok(token !== undefined && token.length >= 22, 'the value is a per-acquisition token')
  await two.releaseLock(null, key)
  assert.is(await peek(key), token, 'a release by another instance is a no-op')
  assert.is(await two.tryAcquireLock(null, key, 10_000), false)
  await one.releaseLock(null, key)
  assert.is(await two.tryAcquireLock(null, key, 10_000), true)
  assert.ok((await peek(key)) !== token, 'a new acquisition, a new token')
  await two.releaseLock(null, key)
})

Safety('TTLs that are not whole seconds work (the original sent "1.5" or 0) and expire within TTL + 1 s', async () => {
  const lock = await open(at(server))
  const other = await open(at(server))
  const key = `ttl-${randomToken()}`
  const started = performance.now()
  assert.is(await lock.tryAcquireLock(null, key, 1500), true)
  let free = false
  while (!free && performance.now() - started < 2600) {
    await sleep(25)
    free = await other.tryAcquireLock(null, key, 10_000)
  }
  const after = performance.now() - started
  assert.ok(free && after <= 2550, `free after ${after.toFixed(0)} ms`)
  await lock.releaseLock(null, key)
  assert.ok((await peek(key)) !== undefined, 'the expired holder’s release left the new holder alone')
  await other.releaseLock(null, key)
})

Safety('leases carry memcached’s honest validity and a fencing token', async () => {
  const lock = await open(at(server))
  const key = `lease-${randomToken()}`
  const lease = await core(lock).acquire(key, 5000, 0)()
  assert.ok(E.isRight(lease))
  assert.ok(lease.right.validUntil - lease.right.acquiredAt <= 3000, 'at most N - 2 s of a 5 s TTL')
  assert.ok(lease.right.fence > 0n)
  const again = await core(lock).acquire(key, 5000, 0)()
  assert.ok(E.isLeft(again) && again.left._tag === 'Timeout')
  assert.ok(E.isRight(await core(lock).release(lease.right)()))
})

Safety.run()

// --- configuration ------------------------------------------------------------------------------

const Config = suite('MemcachedLock: configuration')
Config.before(setUp)
Config.after(tearDown)

const allOptions = {
  'options.max_size': '2000',
  'options.max_key_size': '100',
  'options.max_expiration': '3600',
  'options.max_value': '4096',
  'options.pool_size': '2',
  'options.reconnect': '1000',
  'options.retries': '1',
  'options.timeout': '1500',
  'options.failures': '3',
  'options.retry': '500',
  'options.idle': '2000',
  'options.retry_timeout': '50',
  'options.verify_ownership': 'true'
}

Config('every option of the original is accepted, as numbers or numeric strings', async () => {
  const decoded = decodeMemcachedOptions(ConfigParams.fromTuples(...Object.entries(allOptions).flat()))
  assert.equal(
    decoded,
    E.right({
      retryTimeoutMs: 50,
      retries: 1,
      connectTimeoutMs: 5000,
      maxKeySize: 100,
      maxExpirationSeconds: 3600,
      maxSize: 2000,
      maxValue: 4096,
      poolSize: 2,
      reconnectMs: 1000,
      failures: 3,
      retryMs: 500,
      idleMs: 2000,
      verifyOwnership: true,
      commandTimeoutMs: 1500
    })
  )
  const numbers = decodeMemcachedOptions(ConfigParams.fromTuples('options.max_key_size', 10, 'options.timeout', 700, 'options.command_timeout', 900))
  assert.ok(E.isRight(numbers) && numbers.right.maxKeySize === 10 && numbers.right.commandTimeoutMs === 900, 'command_timeout wins over timeout')
  const defaults = decodeMemcachedOptions(ConfigParams.fromTuples())
  assert.ok(E.isRight(defaults) && defaults.right.commandTimeoutMs === 3000 && defaults.right.maxKeySize === 250 && defaults.right.maxExpirationSeconds === 2_592_000)
  const lock = await open({ ...allOptions, 'connection.host': server.host, 'connection.port': String(server.port) })
  assert.is(await lock.tryAcquireLock(null, `opts-${randomToken()}`, 1000), true)
})

Config('every bad option value is INVALID_CONFIG naming the key and the value', async () => {
  const bad: Record<string, string> = {
    'options.max_size': '-1',
    'options.max_key_size': '251',
    'options.max_expiration': '2592001',
    'options.max_value': '0',
    'options.pool_size': 'many',
    'options.reconnect': '1.5',
    'options.retries': 'x',
    'options.timeout': '0',
    'options.failures': 'lots',
    'options.retry': '-5',
    'options.idle': 'soon',
    'options.retry_timeout': 'later',
    'options.connect_timeout': '0',
    'options.command_timeout': 'fast',
    'options.verify_ownership': 'maybe'
  }
  const lock = new MemcachedLock()
  const e = await thrown(() => lock.configure({ ...bad, 'connection.host': 'localhost' }))
  assert.is(e.code, 'INVALID_CONFIG')
  for (const [key, value] of Object.entries(bad)) assert.ok(e.message.includes(`${key}: `) && e.message.includes(JSON.stringify(value)), `${key} ${value}: ${e.message}`)
})

Config('max_key_size and max_expiration act: INVALID_ARGUMENT before any I/O', async () => {
  const lock = await open(ConfigParams.fromTuples('connection.host', server.host, 'connection.port', server.port, 'options.max_key_size', 8, 'options.max_expiration', 60))
  assert.is((await thrown(() => lock.tryAcquireLock('t', 'ninechars', 1000))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.tryAcquireLock('t', 'has space', 1000))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.tryAcquireLock('t', 'k', 60_001))).code, 'INVALID_ARGUMENT')
  assert.is((await thrown(() => lock.releaseLock('t', 'ninechars'))).code, 'INVALID_ARGUMENT')
  assert.is(await lock.tryAcquireLock('t', `k${randomToken().slice(0, 7)}`, 60_000), true)
  const defaults = await open(at(server))
  const e = await thrown(() => defaults.tryAcquireLock('t', 'k', 2_592_001_000))
  assert.is(e.code, 'INVALID_ARGUMENT')
  assert.match(e.message, /30 days/)
  assert.is((await thrown(() => defaults.tryAcquireLock('t', 'k'.repeat(251), 1000))).code, 'INVALID_ARGUMENT')
})

Config('connections: several servers by connections.<name> or a URI list, credentials from a URI', () => {
  const options = decodeMemcachedOptions(ConfigParams.fromTuples())
  if (E.isLeft(options)) throw new Error('defaults')
  const o = options.right
  assert.equal(
    memcachedConnectOptions({ connections: [{ host: 'a', port: 1 }, { uri: 'memcached://u:p%40ss@b:2, c' }], options: o }),
    E.right({ servers: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 11211 }], username: 'u', password: 'p@ss', connectTimeoutMs: 5000, commandTimeoutMs: 3000, connectRetries: 3 })
  )
  assert.equal(
    memcachedConnectOptions({ connections: [{ uri: 'u:p@b' }], credential: { username: 'x', password: 'y' }, options: o }),
    E.right({ servers: [{ host: 'b', port: 11211 }], username: 'x', password: 'y', connectTimeoutMs: 5000, commandTimeoutMs: 3000, connectRetries: 3 })
  )
  assert.equal(memcachedConnectOptions({ connections: [{}], options: o }), E.right({ servers: [{ host: 'localhost', port: 11211 }], connectTimeoutMs: 5000, commandTimeoutMs: 3000, connectRetries: 3 }))
  const bad = memcachedConnectOptions({ connections: [{ uri: 'b:2/path' }], options: o })
  assert.ok(E.isLeft(bad) && bad.left._tag === 'ConfigError' && /connections\[0\]\.uri/.test(bad.left.errors[0] ?? ''))
})

Config('NO_CONNECTION without a connection, NOT_OPENED before open and after close', async () => {
  const lock = new MemcachedLock()
  assert.is((await thrown(() => lock.tryAcquireLock('t', 'k', 1000))).code, 'NOT_OPENED')
  lock.configure(ConfigParams.fromTuples('options.retry_timeout', 10))
  const e = await thrown(() => lock.open('trace-1'))
  assert.is(e.code, 'NO_CONNECTION')
  assert.is(e.traceId, 'trace-1')
  const opened = await open(at(server))
  await opened.close(null)
  assert.is((await thrown(() => opened.releaseLock('t', 'k'))).code, 'NOT_OPENED')
})

Config.run()

// --- servers ------------------------------------------------------------------------------------

const Servers = suite('MemcachedLock: servers, SASL, failures')
let second: MemcachedServer
let sasl: MemcachedServer
let noCas: MemcachedServer
Servers.before(async () => {
  await setUp()
  ;[second, sasl, noCas] = await Promise.all([startMemcached(), startSaslMemcached('locker', 's3cret'), startMemcached({ args: ['-C'] })])
})
Servers.after(async () => {
  await tearDown()
  await Promise.all([second?.stop(), sasl?.stop(), noCas?.stop()])
  await raw?.close()
  await server?.stop()
})

Servers('two servers by connections.<name>: keys spread over both, each lock works', async () => {
  const config = ConfigParams.fromTuples(
    'connections.a.host', server.host, 'connections.a.port', server.port,
    'connections.b.uri', `memcached://${second.host}:${second.port}`
  )
  const one = await open(config)
  const two = await open(config)
  const onFirst: Array<string> = []
  const keys = Array.from({ length: 16 }, (_, i) => `two-${i}-${randomToken()}`)
  for (const key of keys) {
    assert.is(await one.tryAcquireLock(null, key, 10_000), true)
    assert.is(await two.tryAcquireLock(null, key, 10_000), false)
    if ((await peek(key)) !== undefined) onFirst.push(key)
    await one.releaseLock(null, key)
    assert.is(await two.tryAcquireLock(null, key, 10_000), true)
    await two.releaseLock(null, key)
  }
  assert.ok(onFirst.length > 0 && onFirst.length < keys.length, `${onFirst.length} of ${keys.length} keys on the first server`)
})

Servers('SASL: credential.username/password open; a wrong password fails open with CONNECT_FAILED', async () => {
  const config = (password: string) =>
    ConfigParams.fromTuples('connection.host', sasl.host, 'connection.port', sasl.port, 'credential.username', 'locker', 'credential.password', password)
  const lock = await open(config('s3cret'))
  assert.is(await lock.tryAcquireLock(null, 'sasl-key', 5000), true)
  await lock.releaseLock(null, 'sasl-key')
  const wrong = new MemcachedLock()
  wrong.configure(config('nope'))
  const e = await thrown(() => wrong.open('sasl-trace'))
  assert.is(e.code, 'CONNECT_FAILED')
  assert.is(e.traceId, 'sasl-trace')
  assert.match(e.message, /authentication failed/)
  assert.is(wrong.isOpen(), false)
})

Servers('open refuses a server with CAS disabled (-C), saying why', async () => {
  const lock = new MemcachedLock()
  lock.configure(at(noCas))
  const e = await thrown(() => lock.open(null))
  assert.is(e.code, 'CONNECT_FAILED')
  assert.match(e.message, /CAS disabled/)
})

Servers('open fails clearly when nothing listens, within connect_timeout, after options.retries checks', async () => {
  const port = await freePort()
  const lock = new MemcachedLock()
  lock.configure(ConfigParams.fromTuples('connection.host', '127.0.0.1', 'connection.port', port, 'options.retries', 2, 'options.connect_timeout', 2000))
  const started = performance.now()
  const e = await thrown(() => lock.open(null))
  const took = performance.now() - started
  assert.is(e.code, 'CONNECT_FAILED')
  assert.match(e.message, new RegExp(`Cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
  assert.ok(took >= 190 && took < 1000, `failed after ${took.toFixed(0)} ms (2 retries 100 ms apart)`)
})

Servers('open retries until a server that is starting accepts', async () => {
  const port = await freePort()
  const lock = new MemcachedLock()
  lock.configure(ConfigParams.fromTuples('connection.host', '127.0.0.1', 'connection.port', port, 'options.retries', 50, 'options.connect_timeout', 4000))
  opens.push(lock)
  const opening = lock.open(null).then(
    () => undefined,
    (e: unknown) => e
  )
  await sleep(150)
  const late = await startMemcached({ port })
  try {
    assert.is(await opening, undefined, 'open succeeded once the server came up')
    assert.is(await lock.tryAcquireLock(null, 'late', 1000), true)
    await lock.close()
  } finally {
    await late.stop()
  }
})

Servers('options.timeout bounds each request: a stopped server fails the call with DRIVER_FAILURE', async () => {
  const lock = await open(ConfigParams.fromTuples('connection.host', second.host, 'connection.port', second.port, 'options.timeout', 300))
  second.pause()
  try {
    const started = performance.now()
    const e = await thrown(() => lock.tryAcquireLock('slow', `paused-${randomToken()}`, 5000))
    const took = performance.now() - started
    assert.is(e.code, 'DRIVER_FAILURE')
    assert.is(e.traceId, 'slow')
    assert.ok(took >= 290 && took < 1000, `failed after ${took.toFixed(0)} ms`)
  } finally {
    second.resume()
  }
  assert.is(await lock.tryAcquireLock(null, `resumed-${randomToken()}`, 5000), true, 'the connection recovers')
})

Servers.run()
