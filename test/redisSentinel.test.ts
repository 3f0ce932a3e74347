import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { RedisLock } from '../adapters/redis.js'
import { connectRedisSentinel } from '../adapters/node-redis-sentinel.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { redisStore } from '../src/redis/redisStore.js'
import { conformance } from './support/conformance.js'
import { freePort } from './support/freePort.js'
import { sharedSentinel } from './support/deployments.js'
import { thrown } from './support/expect.js'
import { unhandled } from './support/noUnhandled.js'
import { cli, eventually } from './support/redisCli.js'
import type { RedisSentinelDeployment } from './support/redisSentinel.js'

const COMMAND_MS = 500
const CONNECT_MS = 3000
const SLACK = 400

let deployment: RedisSentinelDeployment
const figures: Array<string> = []

const right = <A>(e: E.Either<LockError, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${message(e.left)}`)
  return e.right
}

const connect = async (commandTimeoutMs = 2000): Promise<RedisConnection> =>
  right(
    await connectRedisSentinel({ name: deployment.name, sentinels: deployment.sentinelNodes, connectTimeoutMs: CONNECT_MS, commandTimeoutMs })(),
    'connect through the sentinels'
  )

const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t0 = performance.now()
  const a = await f()
  return [a, performance.now() - t0]
}

/** A RedisLock in sentinel mode on the shared deployment, with `options` added. */
const component = (options: Record<string, unknown> = {}): RedisLock => {
  const lock = new RedisLock()
  lock.configure({
    connections: Object.fromEntries(deployment.sentinelNodes.map((n, i) => [`sentinel${i}`, n])),
    options: { mode: 'sentinel', master_name: deployment.name, connect_timeout: CONNECT_MS, command_timeout: COMMAND_MS, retry_timeout: 50, ...options }
  })
  return lock
}

conformance(
  'redis sentinel (node-redis createSentinel)',
  async () => {
    deployment = await sharedSentinel()
    const connection = await connect()
    return { store: redisStore(connection.driver), close: connection.close }
  },
  { ttlMs: 200, expiryWaitMs: 400, idempotentAcquire: true }
)

const S = suite('redis sentinel: the primary found through the sentinels, replica-acknowledged leases, failover')

S.before(async () => {
  deployment = await sharedSentinel()
})
S.after(() => {
  if (figures.length > 0) console.log(`\n    sentinel figures:\n${figures.map((f) => `      ${f}`).join('\n')}`)
})

S('RedisLock with sync_replicas = 1: acquires while the replica follows; with the replica frozen (SIGSTOP), acquireLock fails with NOT_REPLICATED and leaves no key behind', async () => {
  const lock = component({ sync_replicas: 1, sync_timeout: 100 })
  await lock.open('sync')
  const replica = await deployment.replica()
  const primary = await deployment.primary()
  try {
    const ok = `sentinel-sync-${randomToken()}`
    await lock.acquireLock('sync', ok, 10_000, 0)
    assert.ok((await cli(replica.port, 'GET', ok)) !== null, 'the replica has the key')
    await lock.releaseLock('sync', ok)
    replica.pause()
    try {
      const key = `sentinel-frozen-${randomToken()}`
      const [e, ms] = await timed(() => thrown(() => lock.acquireLock('sync', key, 10_000, 0)))
      assert.is(e.code, 'NOT_REPLICATED')
      assert.is(e.traceId, 'sync')
      assert.is(await cli(primary.port, 'EXISTS', key), 0, 'no key left behind')
      assert.is((await thrown(() => lock.tryAcquireLock('sync', key, 10_000))).code, 'NOT_REPLICATED', 'a try fails the same way')
      assert.is(await cli(primary.port, 'EXISTS', key), 0)
      figures.push(`NOT_REPLICATED with the replica frozen: acquireLock threw after ${ms.toFixed(0)} ms (sync_timeout 100)`)
    } finally {
      replica.resume()
      await deployment.healthy()
    }
    const after = `sentinel-thawed-${randomToken()}`
    await lock.acquireLock('sync', after, 10_000, 0)
    await lock.releaseLock('sync', after)
  } finally {
    await lock.close('sync')
  }
})

S('syncReplicas through the sentinel client: the script and WAIT go as one pipeline, and a NOSCRIPT in it falls back to EVAL', async () => {
  const connection = await connect()
  try {
    const lock = makeLock(redisStore(connection.driver, { syncReplicas: 1, syncTimeoutMs: 1_000 }))
    const primary = await deployment.primary()
    await cli(primary.port, 'SCRIPT', 'FLUSH')
    const lease = right(await lock.acquire(`sentinel-noscript-${randomToken()}`, 10_000, 0)(), 'acquire after SCRIPT FLUSH')
    assert.is(await cli((await deployment.replica()).port, 'GET', lease.key), lease.token, 'acknowledged by the replica')
    right(await lock.release(lease)(), 'release')
  } finally {
    await connection.close()
  }
  const subscribed = await connection.driver.subscribe!('channel', () => undefined)()
  assert.ok(E.isLeft(subscribed) && !subscribed.left.indeterminate, 'a closed connection refuses to subscribe, determinately')
})

S('connectRedisSentinel: no sentinel listening is CONNECT_FAILED at the connect deadline, naming the primary and the sentinels', async () => {
  const port = await freePort()
  const [r, ms] = await timed(() => connectRedisSentinel({ name: 'nobody', sentinels: [{ host: '127.0.0.1', port }], connectTimeoutMs: 300 })())
  assert.ok(E.isLeft(r) && r.left._tag === 'ConnectFailed' && r.left.target === `nobody via 127.0.0.1:${port}`, 'CONNECT_FAILED')
  assert.ok(ms >= 280 && ms < 300 + SLACK, `at the deadline: ${ms.toFixed(0)} ms`)
})

S('SIGKILL of the primary: calls settle within their deadlines, a replica is promoted, and the same RedisLock (and the same core lock) work again', async () => {
  const unhandledBefore = unhandled().length
  const lock = component()
  await lock.open('failover')
  const connection = await connect(COMMAND_MS)
  const core = makeLock(redisStore(connection.driver))
  const primary = await deployment.primary()
  const replica = await deployment.replica()
  try {
    const held = `sentinel-held-${randomToken()}`
    await lock.acquireLock('failover', held, 30_000, 0)
    const killedAt = performance.now()
    await primary.kill()
    const [e, ms] = await timed(() => thrown(() => lock.acquireLock('failover', `sentinel-outage-${randomToken()}`, 30_000, 300)))
    assert.ok(['DRIVER_FAILURE', 'LOCK_TIMEOUT'].includes(e.code), e.code)
    assert.ok(ms < 300 + COMMAND_MS + SLACK, `acquireLock settled after ${ms.toFixed(0)} ms`)
    const [r, coreMs] = await timed(() => core.tryAcquire(`sentinel-outage-${randomToken()}`, 30_000)())
    assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure', 'the core fails with DRIVER_FAILURE')
    assert.ok(coreMs < COMMAND_MS + SLACK, `tryAcquire settled after ${coreMs.toFixed(0)} ms`)

    await eventually('a replica promoted', async () => (await deployment.primary()) === replica, 20_000)
    const promotedMs = performance.now() - killedAt
    const key = `sentinel-after-${randomToken()}`
    const backMs = await eventually(
      'the same RedisLock works again',
      () => lock.tryAcquireLock('failover', key, 10_000).catch(() => false),
      15_000,
      100
    )
    await lock.releaseLock('failover', key)
    const lease = right(await core.acquire(`sentinel-core-${randomToken()}`, 10_000, 2_000)(), 'the same core lock acquires')
    right(await core.release(lease)(), 'and releases')
    assert.is(unhandled().length, unhandledBefore, 'no unhandled rejection')
    figures.push(
      `failover: acquireLock(300) settled in ${ms.toFixed(0)} ms, tryAcquire in ${coreMs.toFixed(0)} ms; replica promoted ${promotedMs.toFixed(0)} ms after the kill; the same RedisLock acquired again ${backMs.toFixed(0)} ms after that`
    )
  } finally {
    await lock.close('failover')
    await connection.close()
    // The old primary comes back empty, as a replica of the new one (what the sentinels would
    // tell it at their next look, up to 10 s later).
    await primary.restart()
    await cli(primary.port, 'REPLICAOF', replica.host, String(replica.port))
    await deployment.healthy(30_000)
  }
})

S.run()
