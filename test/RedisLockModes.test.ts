import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { RedisLock, RedisLockComponent, connectRedis, connectRedisCluster, connectRedisSentinel, decodeRedisOptions } from '../adapters/redis.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import { code } from '../src/LockError.js'
import { sharedCluster, sharedSentinel } from './support/deployments.js'
import { thrown } from './support/expect.js'
import { info } from './support/redisCli.js'
import type { RedisClusterDeployment } from './support/redisCluster.js'
import type { RedisSentinelDeployment } from './support/redisSentinel.js'

let cluster: RedisClusterDeployment
let sentinel: RedisSentinelDeployment

/** Every port of both deployments: cluster nodes, data nodes and sentinels. */
const ports = (): ReadonlyArray<number> => [...cluster.nodes, ...sentinel.servers, ...sentinel.sentinels].map((s) => s.port)

/** Client connections each server accepted so far (reading it is one more). */
const connectionsSoFar = (): Promise<ReadonlyArray<number>> =>
  Promise.all(ports().map(async (port) => Number((await info(port, 'stats')).get('total_connections_received'))))

/** Asserts that, between `before` and now, no server accepted a connection but the reading itself. */
const nothingConnected = async (before: ReadonlyArray<number>, what: string): Promise<void> => {
  const after = await connectionsSoFar()
  assert.equal(
    after.map((n, i) => n - before[i]!),
    ports().map(() => 1),
    `${what}: no server saw a connection (only the reading of its counters)`
  )
}

const clusterConnections = (): Record<string, unknown> => Object.fromEntries(cluster.rootNodes.map((n, i) => [`node${i}`, n]))
const sentinelConnections = (): Record<string, unknown> => Object.fromEntries(sentinel.sentinelNodes.map((n, i) => [`sentinel${i}`, n]))

const D = suite('RedisLock options: mode, master_name, sync_replicas, sync_timeout')

D('decoded with their defaults, any case for the mode', () => {
  const decoded = decodeRedisOptions(
    ConfigParams.fromTuples('options.mode', ' Sentinel ', 'options.master_name', 'locks', 'options.sync_replicas', '2', 'options.sync_timeout', '250')
  )
  assert.ok(E.isRight(decoded))
  if (E.isRight(decoded)) {
    assert.is(decoded.right.mode, 'sentinel')
    assert.is(decoded.right.masterName, 'locks')
    assert.is(decoded.right.syncReplicas, 2)
    assert.is(decoded.right.syncTimeoutMs, 250)
  }
})

/** A bad configuration, and the key its error must name. */
type BadRow = readonly [string, () => Record<string, unknown>, string]

const badAtConfigure: ReadonlyArray<BadRow> = [
  ['an unknown mode', () => ({ connection: { host: 'localhost' }, options: { mode: 'ring' } }), 'options.mode'],
  ['a mode of the wrong type', () => ({ connection: { host: 'localhost' }, options: { mode: 3 } }), 'options.mode'],
  ['sentinel without master_name', () => ({ connections: sentinelConnections(), options: { mode: 'sentinel' } }), 'options.master_name'],
  ['an empty master_name', () => ({ connections: sentinelConnections(), options: { mode: 'sentinel', master_name: ' ' } }), 'options.master_name'],
  ['master_name without sentinel mode', () => ({ connections: clusterConnections(), options: { mode: 'cluster', master_name: 'locks' } }), 'options.master_name'],
  ['master_name in the default mode', () => ({ connection: { host: 'localhost' }, options: { master_name: 'locks' } }), 'options.master_name'],
  ['sync_replicas < 0', () => ({ connections: clusterConnections(), options: { mode: 'cluster', sync_replicas: -1 } }), 'options.sync_replicas'],
  ['sync_replicas not a whole number', () => ({ connection: { host: 'localhost' }, options: { sync_replicas: 1.5 } }), 'options.sync_replicas'],
  ['sync_replicas not a number', () => ({ connection: { host: 'localhost' }, options: { sync_replicas: 'all' } }), 'options.sync_replicas'],
  ['sync_timeout 0', () => ({ connections: sentinelConnections(), options: { mode: 'sentinel', master_name: 'x', sync_timeout: 0 } }), 'options.sync_timeout'],
  ['sync_timeout past a timer', () => ({ connection: { host: 'localhost' }, options: { sync_timeout: 2 ** 31 } }), 'options.sync_timeout']
]

const badAtOpen: ReadonlyArray<BadRow> = [
  ['cluster mode over TLS', () => ({ connection: { uri: `rediss://127.0.0.1:${cluster.rootNodes[0]!.port}` }, options: { mode: 'cluster' } }), 'rediss://127.0.0.1'],
  ['cluster mode with protocol rediss', () => ({ connection: { protocol: 'rediss', host: '127.0.0.1', port: cluster.rootNodes[0]!.port }, options: { mode: 'cluster' } }), 'protocol "rediss"'],
  ['cluster mode with a database in the URI', () => ({ connection: { uri: `redis://127.0.0.1:${cluster.rootNodes[0]!.port}/2` }, options: { mode: 'cluster' } }), 'no database in the URI'],
  ['sentinel mode with a password in the URI', () => ({ connection: { uri: `redis://:pw@127.0.0.1:${sentinel.sentinelNodes[0]!.port}` }, options: { mode: 'sentinel', master_name: sentinel.name } }), 'credential.*'],
  ['sentinel mode with a URI that is none', () => ({ connection: { uri: 'no uri at all' }, options: { mode: 'sentinel', master_name: sentinel.name } }), 'not a redis:// URI']
]

D.before(async () => {
  ;[cluster, sentinel] = await Promise.all([sharedCluster(), sharedSentinel()])
})

D('bad values and combinations: INVALID_CONFIG at configure, naming the key; no server sees a connection', async () => {
  const before = await connectionsSoFar()
  for (const [what, config, key] of badAtConfigure) {
    const lock = new RedisLock()
    const e = await thrown(() => lock.configure(config()))
    assert.is(e.code, 'INVALID_CONFIG', what)
    assert.ok(e.error._tag === 'ConfigError' && e.error.errors.some((m) => m.startsWith(key)), `${what}: names ${key}: ${e.message}`)
    assert.not.ok(lock.isOpen())
  }
  await nothingConnected(before, 'bad configurations')
})

D('connections a mode cannot use: INVALID_CONFIG at open, naming the connection; no server sees a connection', async () => {
  const before = await connectionsSoFar()
  for (const [what, config, says] of badAtOpen) {
    const lock = new RedisLock()
    lock.configure(config())
    const e = await thrown(() => lock.open('modes'))
    assert.is(e.code, 'INVALID_CONFIG', what)
    assert.match(e.message, says, what)
    assert.not.ok(lock.isOpen())
  }
  const standaloneOnly = new RedisLockComponent(connectRedis)
  standaloneOnly.configure({ connections: clusterConnections(), options: { mode: 'cluster' } })
  const e = await thrown(() => standaloneOnly.open('modes'))
  assert.is(e.code, 'INVALID_CONFIG')
  assert.match(e.message, 'no connector for "cluster"')
  await nothingConnected(before, 'unusable connections')
})

D('connect options of connectRedisCluster and connectRedisSentinel: every bad one is INVALID_CONFIG naming it, at once, with no socket', async () => {
  const before = await connectionsSoFar()
  const node = { host: '127.0.0.1', port: cluster.rootNodes[0]!.port }
  const clusterRows: ReadonlyArray<readonly [string, unknown]> = [
    ['options', null],
    ['rootNodes', {}],
    ['rootNodes', { rootNodes: [] }],
    ['rootNodes', { rootNodes: [{ host: '', port: 7000 }] }],
    ['rootNodes', { rootNodes: [{ host: 'h', port: 0 }] }],
    ['rootNodes', { rootNodes: node }],
    ['username', { rootNodes: [node], username: 1 }],
    ['password', { rootNodes: [node], password: 1 }],
    ['connectTimeoutMs', { rootNodes: [node], connectTimeoutMs: 0 }],
    ['commandTimeoutMs', { rootNodes: [node], commandTimeoutMs: 1.5 }]
  ]
  const sentinelRows: ReadonlyArray<readonly [string, unknown]> = [
    ['options', undefined],
    ['name', { sentinels: [node] }],
    ['name', { name: '', sentinels: [node] }],
    ['sentinels', { name: 'x' }],
    ['sentinels', { name: 'x', sentinels: [] }],
    ['sentinels', { name: 'x', sentinels: [{ host: 'h' }] }],
    ['database', { name: 'x', sentinels: [node], database: -1 }],
    ['commandTimeoutMs', { name: 'x', sentinels: [node], commandTimeoutMs: 'fast' }]
  ]
  const handles = (): number => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length
  for (const [connect, rows] of [
    [connectRedisCluster, clusterRows],
    [connectRedisSentinel, sentinelRows]
  ] as const) {
    for (const [option, options] of rows) {
      const open = handles()
      const t0 = performance.now()
      const r = await (connect as (o: unknown) => () => Promise<E.Either<never, never>>)(options)()
      assert.ok(E.isLeft(r) && code(r.left) === 'INVALID_CONFIG', `${connect.name} ${option}: ${JSON.stringify(options)}`)
      if (E.isLeft(r) && (r.left as { _tag: string })._tag === 'ConfigError')
        assert.ok((r.left as { errors: ReadonlyArray<string> }).errors.some((m) => m.startsWith(`${option}:`)), `names ${option}`)
      assert.ok(performance.now() - t0 < 50, 'at once')
      assert.is(handles(), open, 'no socket or timer left')
    }
  }
  await nothingConnected(before, 'bad connect options')
})

D('a cluster found through discovery (every entry a root node), and a sentinel deployment: the same RedisLock API', async () => {
  const viaDiscovery = new RedisLock()
  viaDiscovery.configure({ connection: { discovery_key: 'cluster' }, options: { mode: 'cluster', sync_replicas: 1, sync_timeout: 1000 } })
  viaDiscovery.setReferences({ discovery: async (key) => (key === 'cluster' ? cluster.rootNodes.slice(0, 2) : undefined) })
  const watched = new RedisLock()
  watched.configure({ connections: sentinelConnections(), options: { mode: 'sentinel', master_name: sentinel.name } })
  for (const [what, lock] of [
    ['cluster', viaDiscovery],
    ['sentinel', watched]
  ] as const) {
    await lock.open(what)
    try {
      await lock.acquireLock(what, `modes:${what}`, 10_000, 0)
      assert.not.ok(await lock.tryAcquireLock(what, `modes:${what}`, 10_000), `${what}: held`)
      await lock.releaseLock(what, `modes:${what}`)
      assert.ok(await lock.tryAcquireLock(what, `modes:${what}`, 10_000), `${what}: released`)
      await lock.releaseLock(what, `modes:${what}`)
    } finally {
      await lock.close(what)
    }
  }
})

D.run()
