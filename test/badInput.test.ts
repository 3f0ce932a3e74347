import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { MemcachedLock } from '../adapters/memcached.js'
import { connectMemcached } from '../adapters/memjs.js'
import { RedisLock } from '../adapters/redis.js'
import { connectRedis } from '../adapters/node-redis.js'
import type { BaseOptions, LockComponent } from '../src/compat/LockComponent.js'
import type { Lease } from '../src/Lease.js'
import { Lock, makeLock } from '../src/Lock.js'
import { LockError, LockException, code, message } from '../src/LockError.js'
import { memcachedStore } from '../src/memcached/memcachedStore.js'
import { redisStore } from '../src/redis/redisStore.js'
import { MemcachedServer, memcachedStats, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

/** The outcome of a call as a code: the error code, `OK`, or what was thrown that is not a LockException. */
type Outcome = string

const ofEither = (r: E.Either<LockError, unknown>): Outcome => (E.isLeft(r) ? code(r.left) : 'OK')
const ofPromise = (p: () => Promise<unknown>): Promise<Outcome> =>
  Promise.resolve()
    .then(p)
    .then(
      () => 'OK',
      (e: unknown) => (e instanceof LockException ? e.code : `THREW ${String(e)}`)
    )

/** A lease as a caller could forge or corrupt it. */
const leaseWith = (key: unknown): Lease =>
  ({ key, token: 'not-a-real-token', ttlMs: 10_000, acquiredAt: 0, validUntil: 0, fence: 1n, revision: '1' }) as unknown as Lease

/** What each case runs against. */
interface Subject {
  readonly lock: Lock
  readonly component: LockComponent<BaseOptions>
}

type Call = (s: Subject, input: unknown) => Promise<Outcome>

const never = (): E.Either<never, never> => {
  throw new Error('withLock ran its body on bad input')
}

const keyCalls: Record<string, Call> = {
  'core tryAcquire': (s, key) => s.lock.tryAcquire(key as string, 10_000)().then(ofEither),
  'core acquire': (s, key) => s.lock.acquire(key as string, 10_000, 100)().then(ofEither),
  'core withLock': (s, key) => s.lock.withLock(key as string, 10_000, { timeoutMs: 100 }, () => async () => never())().then(ofEither),
  'core release': (s, key) => s.lock.release(leaseWith(key))().then(ofEither),
  'core extend': (s, key) => s.lock.extend(leaseWith(key), 10_000)().then(ofEither),
  'class tryAcquireLock': (s, key) => ofPromise(() => s.component.tryAcquireLock('bad', key as string, 10_000)),
  'class acquireLock': (s, key) => ofPromise(() => s.component.acquireLock('bad', key as string, 10_000, 100)),
  'class releaseLock': (s, key) => ofPromise(() => s.component.releaseLock('bad', key as string))
}

const ttlCalls: Record<string, Call> = {
  'core tryAcquire': (s, ttl) => s.lock.tryAcquire('bad-input:ttl', ttl as number)().then(ofEither),
  'core acquire': (s, ttl) => s.lock.acquire('bad-input:ttl', ttl as number, 100)().then(ofEither),
  'core withLock': (s, ttl) => s.lock.withLock('bad-input:ttl', ttl as number, { timeoutMs: 100 }, () => async () => never())().then(ofEither),
  'core extend': (s, ttl) => s.lock.extend(leaseWith('bad-input:ttl'), ttl as number)().then(ofEither),
  'class tryAcquireLock': (s, ttl) => ofPromise(() => s.component.tryAcquireLock('bad', 'bad-input:ttl', ttl as number)),
  'class acquireLock': (s, ttl) => ofPromise(() => s.component.acquireLock('bad', 'bad-input:ttl', ttl as number, 100))
}

const timeoutCalls: Record<string, Call> = {
  'core acquire': (s, t) => s.lock.acquire('bad-input:timeout', 10_000, t as number)().then(ofEither),
  'core withLock': (s, t) => s.lock.withLock('bad-input:timeout', 10_000, { timeoutMs: t as number }, () => async () => never())().then(ofEither),
  'class acquireLock': (s, t) => ofPromise(() => s.component.acquireLock('bad', 'bad-input:timeout', 10_000, t as number))
}

/** One row of a table: a named input and the error code every call must answer. */
type Row = readonly [name: string, input: unknown, expected: string]

const badKeys: ReadonlyArray<Row> = [
  ['empty string', '', 'INVALID_ARGUMENT'],
  ['a number', 42, 'INVALID_ARGUMENT'],
  ['null', null, 'INVALID_ARGUMENT'],
  ['undefined', undefined, 'INVALID_ARGUMENT'],
  ['an object', { key: 'k' }, 'INVALID_ARGUMENT'],
  ['a lone surrogate', 'lock-\uD800', 'INVALID_ARGUMENT']
]
const redisKeys: ReadonlyArray<Row> = [
  ['very long unicode (2049 × 🔒 = 8196 bytes > max_key_size 8192)', '🔒'.repeat(2049), 'INVALID_ARGUMENT'],
  ['a reserved suffix (":fence")', 'jobs:fence', 'INVALID_ARGUMENT'],
  ['a "}" without a hash tag', 'a}b', 'INVALID_ARGUMENT']
]
const memcachedKeys: ReadonlyArray<Row> = [
  ['251 ASCII bytes', 'k'.repeat(251), 'INVALID_ARGUMENT'],
  ['126 × "é" (252 bytes)', 'é'.repeat(126), 'INVALID_ARGUMENT'],
  ['a space', 'jobs nightly', 'INVALID_ARGUMENT'],
  ['a newline', 'jobs\nnightly', 'INVALID_ARGUMENT'],
  ['a carriage return', 'jobs\r\nget x', 'INVALID_ARGUMENT'],
  ['a tab', 'jobs\tnightly', 'INVALID_ARGUMENT'],
  ['a NUL', 'jobs\u0000', 'INVALID_ARGUMENT'],
  ['DEL (U+007F)', 'jobs\u007F', 'INVALID_ARGUMENT'],
  ['a C1 control (U+0085)', 'jobs\u0085', 'INVALID_ARGUMENT']
]

const badTtls: ReadonlyArray<Row> = [
  ['0', 0, 'INVALID_ARGUMENT'],
  ['negative', -1000, 'INVALID_ARGUMENT'],
  ['fractional 1.5', 1.5, 'INVALID_ARGUMENT'],
  ['NaN', NaN, 'INVALID_ARGUMENT'],
  ['Infinity', Infinity, 'INVALID_ARGUMENT'],
  ['-Infinity', -Infinity, 'INVALID_ARGUMENT'],
  ['the string "3000"', '3000', 'INVALID_ARGUMENT'],
  ['null', null, 'INVALID_ARGUMENT'],
  ['undefined', undefined, 'INVALID_ARGUMENT'],
  ['2^53 (not a safe integer)', 2 ** 53, 'INVALID_ARGUMENT'],
  ['a bigint', 3000n, 'INVALID_ARGUMENT']
]
const memcachedTtls: ReadonlyArray<Row> = [
  ['over 30 days (2592000001 ms)', 2_592_000_001, 'INVALID_ARGUMENT'],
  ['a year', 365 * 24 * 3600 * 1000, 'INVALID_ARGUMENT']
]

const badTimeouts: ReadonlyArray<Row> = [
  ['negative', -1, 'INVALID_ARGUMENT'],
  ['NaN', NaN, 'INVALID_ARGUMENT'],
  ['fractional 1.5', 1.5, 'INVALID_ARGUMENT'],
  ['Infinity', Infinity, 'INVALID_ARGUMENT'],
  ['the string "1000"', '1000', 'INVALID_ARGUMENT'],
  ['null', null, 'INVALID_ARGUMENT']
]

/** A config key and a value of the wrong type for it. */
type ConfigRow = readonly [key: string, value: unknown]

const genericConfig: ReadonlyArray<ConfigRow> = [
  ['connection.host', 42],
  ['connection.host', ''],
  ['connection.host', true],
  ['connection.port', 'abc'],
  ['connection.port', 0],
  ['connection.port', 65_536],
  ['connection.port', 1.5],
  ['connection.port', true],
  ['connection.port', '6379.5'],
  ['connection.port', [6380]],
  ['connection.port', { value: 6380 }],
  ['connection.uri', 42],
  ['connection.uri', ''],
  ['connection.protocol', false],
  ['connection.discovery_key', 7],
  ['connections.main.port', 'x'],
  ['host', false],
  ['port', 'six'],
  ['credential.username', true],
  ['credential.password', true],
  ['credential.store_key', 3],
  ['options.retry_timeout', 'soon'],
  ['options.retry_timeout', -1],
  ['options.retry_timeout', 1.5],
  ['options.retry_timeout', 2 ** 31],
  ['options.retry_timeout', [100]],
  ['options.retries', -1],
  ['options.retries', 'many'],
  ['options.connect_timeout', 0],
  ['options.connect_timeout', 'x'],
  ['options.command_timeout', 0],
  ['options.command_timeout', false],
  ['options.max_key_size', 0],
  ['options.max_key_size', 'big']
]
const memcachedConfig: ReadonlyArray<ConfigRow> = [
  ['options.timeout', 0],
  ['options.timeout', 'x'],
  ['options.max_key_size', 251],
  ['options.max_expiration', 0],
  ['options.max_expiration', 2_592_001],
  ['options.max_size', -1],
  ['options.max_value', 0],
  ['options.pool_size', 0],
  ['options.reconnect', -1],
  ['options.failures', 'x'],
  ['options.retry', -5],
  ['options.idle', 'x']
]

/** `{ a: { b: value } }` for the dotted key `a.b`, next to a valid connection (unless the key is one of its fields). */
const configWith = (dotted: string, value: unknown, port: number): Record<string, unknown> => {
  const config: Record<string, unknown> = { connection: { host: '127.0.0.1', port } }
  const path = dotted.split('.')
  if (path[0] === 'host' || path[0] === 'port') delete config['connection']
  let node = config
  for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>
  node[path[path.length - 1]!] = value
  return config
}

const show = (u: unknown): string =>
  typeof u === 'string' ? JSON.stringify(u.length > 40 ? `${u.slice(0, 40)}…` : u) : typeof u === 'bigint' ? `${u}n` : JSON.stringify(u) ?? String(u)

/** Connect options of the functional API, each with one option of the wrong type or range. */
const redisConnectRows = (port: number): ReadonlyArray<readonly [string, Record<string, unknown>]> => [
  ['options null', null as never],
  ['host 42', { host: 42 }],
  ['host ""', { host: '' }],
  ['port "abc"', { port: 'abc' }],
  ['port 0', { port: 0 }],
  ['port 70000', { port: 70_000 }],
  ['port 1.5', { port: 1.5 }],
  ['uri 42', { uri: 42 }],
  ['uri ""', { uri: '' }],
  ['username 42', { username: 42 }],
  ['password {}', { password: {} }],
  ['database -1', { database: -1 }],
  ['database "x"', { database: 'x' }],
  ['connectTimeoutMs 0', { connectTimeoutMs: 0 }],
  ['connectTimeoutMs -5', { connectTimeoutMs: -5 }],
  ['connectTimeoutMs NaN', { connectTimeoutMs: NaN }],
  ['connectTimeoutMs "100"', { connectTimeoutMs: '100' }],
  ['connectTimeoutMs 2^31 (past what a timer honours)', { connectTimeoutMs: 2 ** 31 }],
  ['commandTimeoutMs -1', { commandTimeoutMs: -1 }],
  ['commandTimeoutMs NaN', { commandTimeoutMs: NaN }],
  ['connectRetries -1', { connectRetries: -1 }],
  ['connectRetries 1.5', { connectRetries: 1.5 }],
  ['connectRetries "x"', { connectRetries: 'x' }]
].map(([name, bad]) => [name as string, bad === null ? (null as never) : { host: '127.0.0.1', port, connectTimeoutMs: 1000, ...(bad as object) }])

const memcachedConnectRows = (port: number): ReadonlyArray<readonly [string, Record<string, unknown>]> => {
  const server = [{ host: '127.0.0.1', port }]
  return [
    ['options null', null as never],
    ['servers missing', {}],
    ['servers a string', { servers: `127.0.0.1:${port}` }],
    ['servers empty', { servers: [] }],
    ['servers [null]', { servers: [null] }],
    ['server host 42', { servers: [{ host: 42, port }] }],
    ['server port "x"', { servers: [{ host: '127.0.0.1', port: 'x' }] }],
    ['username 42', { servers: server, username: 42, password: 'pw' }],
    ['password 42', { servers: server, username: 'u', password: 42 }],
    ['username without password', { servers: server, username: 'u' }],
    ['keepAlive "yes"', { servers: server, keepAlive: 'yes' }],
    ['connectTimeoutMs NaN', { servers: server, connectTimeoutMs: NaN }],
    ['connectTimeoutMs 0', { servers: server, connectTimeoutMs: 0 }],
    ['commandTimeoutMs "5"', { servers: server, commandTimeoutMs: '5' }],
    ['commandTimeoutMs 2^31 (past what a timer honours)', { servers: server, commandTimeoutMs: 2 ** 31 }],
    ['connectRetries 1.5', { servers: server, connectRetries: 1.5 }],
    ['connectRetries -1', { servers: server, connectRetries: -1 }]
  ]
}

/** Sockets and timers alive now. */
const handles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length

// --- what reached the server --------------------------------------------------------------------

/** Calls of every command, from `INFO commandstats` (without INFO itself). */
const redisCommandStats = async (send: (c: ReadonlyArray<string>) => Promise<unknown>): Promise<Record<string, number>> => {
  const info = String(await send(['INFO', 'commandstats']))
  const stats: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') stats[m[1]!] = Number(m[2])
  return stats
}

const MEMCACHED_COUNTERS = ['cmd_get', 'cmd_set', 'cmd_touch', 'cmd_flush', 'get_hits', 'get_misses', 'delete_hits', 'delete_misses', 'cas_hits', 'cas_misses', 'cas_badval', 'touch_hits', 'touch_misses', 'incr_hits', 'incr_misses', 'total_items']

/** The request counters of `stats`, over a connection of its own. */
const requestCounters = async (port: number): Promise<Record<string, number>> => {
  const all = await memcachedStats(port)
  return Object.fromEntries(MEMCACHED_COUNTERS.filter((name) => name in all).map((name) => [name, all[name]!]))
}

// --- the suites ---------------------------------------------------------------------------------

interface Backend {
  readonly name: 'redis' | 'memcached'
  readonly keys: ReadonlyArray<Row>
  readonly ttls: ReadonlyArray<Row>
  readonly config: ReadonlyArray<ConfigRow>
  readonly component: () => LockComponent<BaseOptions>
  readonly start: () => Promise<{ port: number; stop: () => Promise<void> }>
  readonly core: (port: number) => Promise<{ lock: Lock; close: () => Promise<void> }>
  readonly counters: (port: number) => Promise<{ read: () => Promise<Record<string, number>>; close: () => Promise<void> }>
  readonly connectRows: (port: number) => ReadonlyArray<readonly [string, Record<string, unknown>]>
  readonly connect: (options: Record<string, unknown>) => Promise<E.Either<LockError, { close: () => Promise<void> }>>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: 'redis',
    keys: [...badKeys, ...redisKeys],
    ttls: badTtls,
    config: genericConfig,
    component: () => new RedisLock(),
    start: async () => {
      const s: RedisServer = await startRedis()
      return { port: s.port, stop: s.stop }
    },
    core: async (port) => {
      const c = await connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
      if (E.isLeft(c)) throw new Error(message(c.left))
      return { lock: makeLock(redisStore(c.right.driver)), close: c.right.close }
    },
    counters: async (port) => {
      const c = await connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
      if (E.isLeft(c)) throw new Error(message(c.left))
      const send = async (command: ReadonlyArray<string>): Promise<unknown> => {
        const r = await c.right.driver.send(command)()
        if (E.isLeft(r)) throw new Error(String(r.left.cause))
        return r.right
      }
      return { read: () => redisCommandStats(send), close: c.right.close }
    },
    connectRows: redisConnectRows,
    connect: (options) => connectRedis(options as never)()
  },
  {
    name: 'memcached',
    keys: [...badKeys, ...memcachedKeys],
    ttls: [...badTtls, ...memcachedTtls],
    config: [...genericConfig, ...memcachedConfig],
    component: () => new MemcachedLock(),
    start: async () => {
      const s: MemcachedServer = await startMemcached()
      return { port: s.port, stop: s.stop }
    },
    core: async (port) => {
      const c = await connectMemcached({ servers: [{ host: '127.0.0.1', port }], connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
      if (E.isLeft(c)) throw new Error(message(c.left))
      return { lock: makeLock(memcachedStore(c.right.driver)), close: c.right.close }
    },
    counters: async (port) => ({ read: () => requestCounters(port), close: async () => undefined }),
    connectRows: memcachedConnectRows,
    connect: (options) => connectMemcached(options as never)()
  }
]

for (const backend of backends) {
  const S = suite(`bad input on ${backend.name}: the documented error, and nothing sent to the server`)
  let server: { port: number; stop: () => Promise<void> }
  let subject: Subject
  let core: { lock: Lock; close: () => Promise<void> }
  let counters: { read: () => Promise<Record<string, number>>; close: () => Promise<void> }

  S.before(async () => {
    server = await backend.start()
    core = await backend.core(server.port)
    const component = backend.component()
    component.configure({ connection: { host: '127.0.0.1', port: server.port }, options: { connect_timeout: 2000, command_timeout: 1000 } })
    await component.open('bad-input')
    subject = { lock: core.lock, component }
    counters = await backend.counters(server.port)
  })
  S.after(async () => {
    await subject?.component.close('bad-input')
    await core?.close()
    await counters?.close()
    await server?.stop()
  })

  /** Runs every call of `calls` on every row, asserting the row's code and that the server's counters did not move. */
  const table = async (what: string, rows: ReadonlyArray<Row>, calls: Record<string, Call>): Promise<void> => {
    let checked = 0
    for (const [name, input, expected] of rows) {
      for (const [callName, call] of Object.entries(calls)) {
        const before = await counters.read()
        const outcome = await call(subject, input)
        const after = await counters.read()
        const label = `${callName} with ${what} ${name} (${show(input)})`
        assert.is(outcome, expected, label)
        assert.equal(after, before, `${label}: no command reached the server`)
        checked++
      }
    }
    assert.is(checked, rows.length * Object.keys(calls).length)
  }

  S('keys', () => table('key', backend.keys, keyCalls))
  S('TTLs', () => table('TTL', backend.ttls, ttlCalls))
  S('timeouts', () => table('timeout', badTimeouts, timeoutCalls))

  S('configuration: every key with a wrong-typed value is INVALID_CONFIG naming the key, at configure', async () => {
    const before = await counters.read()
    for (const [key, value] of backend.config) {
      const component = backend.component()
      const outcome = await ofPromise(async () => component.configure(configWith(key, value, server.port)))
      assert.is(outcome, 'INVALID_CONFIG', `${key} = ${show(value)}`)
      try {
        component.configure(configWith(key, value, server.port))
      } catch (e) {
        const errors = e instanceof LockException && e.error._tag === 'ConfigError' ? e.error.errors : []
        assert.ok(
          errors.some((m) => m.startsWith(`${key}:`) || m.startsWith(`${key} `)),
          `${key} = ${show(value)}: the error names the key: ${errors.join('; ')}`
        )
      }
      assert.not.ok(component.isOpen())
    }
    assert.equal(await counters.read(), before, 'no command reached the server')
  })

  S('connect options of the functional API: every wrong-typed value is INVALID_CONFIG naming the option, at once, with no socket', async () => {
    const before = await counters.read()
    for (const [name, options] of backend.connectRows(server.port)) {
      const sockets = handles()
      const t0 = performance.now()
      let outcome: Outcome
      try {
        const r = await backend.connect(options)
        if (E.isRight(r)) await r.right.close()
        outcome = ofEither(r)
        if (E.isLeft(r) && r.left._tag === 'ConfigError' && name !== 'options null' && name !== 'username without password') {
          const option = name.split(' ')[0]!
          assert.ok(r.left.errors.some((m) => m.includes(option)), `${name}: the error names the option: ${r.left.errors.join('; ')}`)
        }
      } catch (e) {
        outcome = `THREW ${String(e)}`
      }
      assert.is(outcome, 'INVALID_CONFIG', name)
      assert.ok(performance.now() - t0 < 50, `${name}: refused at once`)
      assert.is(handles(), sockets, `${name}: no socket or timer left`)
    }
    assert.equal(await counters.read(), before, 'no command reached the server')
  })

  S('what is accepted next to the limits works (a control for the tables above)', async () => {
    const edge = backend.name === 'redis' ? '🔒'.repeat(2048) : 'é'.repeat(125)
    const lease = await subject.lock.tryAcquire(edge, 10_000)()
    assert.ok(E.isRight(lease) && O.isSome(lease.right), `a key of exactly the limit is accepted (${Buffer.byteLength(edge)} bytes)`)
    if (E.isRight(lease) && O.isSome(lease.right)) assert.is(ofEither(await subject.lock.release(lease.right.value)()), 'OK')
    const before = await counters.read()
    assert.is(await ofPromise(() => subject.component.tryAcquireLock('ok', 'bad-input:control', 3)), 'OK', 'a TTL of 3 ms, the shortest, is valid')
    assert.not.equal(await counters.read(), before, 'and it did reach the server, so the counters do move')
    await subject.component.releaseLock('ok', 'bad-input:control')
  })

  S.run()
}
