import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { RedisLock } from '../adapters/redis.js'
import { connectRedisCluster } from '../adapters/node-redis-cluster.js'
import { randomToken } from '../src/Environment.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { redisStore } from '../src/redis/redisStore.js'
import { queueKey } from '../src/redis/keys.js'
import { keySlot, slotChannel } from '../src/redis/slots.js'
import { conformance } from './support/conformance.js'
import { freePort } from './support/freePort.js'
import { sharedCluster } from './support/deployments.js'
import type { WorkerTask } from './support/exclusionWorker.js'
import { sleep, thrown } from './support/expect.js'
import { unhandled } from './support/noUnhandled.js'
import { cli, commandCalls, eventually } from './support/redisCli.js'
import { ClusterNode, RedisClusterDeployment, startSingleNodeCluster } from './support/redisCluster.js'
import { overlaps, runWorkers } from './support/workers.js'

// Deadlines of these tests; bounds asserted are deadline + SLACK (correctness, not speed).
const COMMAND_MS = 500
const CONNECT_MS = 3000
// Generous: the 6-node cluster shares the machine with the test process, and a busy machine delays both.
const SLACK = 1000

/** A retry policy that would poll only after 10 s: anything faster is a handover. */
const SLOW_POLL = constantDelay(10_000)

let cluster: RedisClusterDeployment
const connections: Array<RedisConnection> = []
const figures: Array<string> = []

const right = <A>(e: E.Either<LockError, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${message(e.left)}`)
  return e.right
}

const connect = async (commandTimeoutMs = 2000): Promise<RedisConnection> => {
  const c = right(await connectRedisCluster({ rootNodes: cluster.rootNodes, connectTimeoutMs: CONNECT_MS, commandTimeoutMs })(), 'connect')
  connections.push(c)
  return c
}

const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t0 = performance.now()
  const a = await f()
  return [a, performance.now() - t0]
}

const queueOf = (key: string): string => {
  const queue = queueKey(key)
  if (E.isLeft(queue)) throw new Error(`no queue for ${key}`)
  return queue.right
}

/** A key whose slot `master` serves: `{<prefix>-<n>}…` with a hash tag, or a plain `<prefix>:<n>`. */
const keyOn = async (master: ClusterNode, tagged: boolean, prefix: string): Promise<string> => {
  for (let n = 0; ; n++) {
    const key = tagged ? `{${prefix}-${n}}:job` : `${prefix}:${n}`
    if ((await cluster.masterOfSlot(keySlot(key))) === master) return key
  }
}

conformance(
  'redis cluster (node-redis createCluster)',
  async () => {
    cluster = await sharedCluster()
    const connection = await connect()
    return { store: redisStore(connection.driver), close: connection.close }
  },
  { ttlMs: 200, expiryWaitMs: 400, idempotentAcquire: true }
)

const S = suite('redis cluster: routing, sharded wake-up, migration and failover on a local 6-node cluster')

S.before(async () => {
  cluster = await sharedCluster()
})
S.after(async () => {
  await Promise.all(connections.map((c) => c.close()))
  if (figures.length > 0) console.log(`\n    cluster figures:\n${figures.map((f) => `      ${f}`).join('\n')}`)
})

S('keySlot and slotChannel agree with CLUSTER KEYSLOT, for plain keys, hash tags and UTF-8', async () => {
  const keys = ['foo', 'jobs:nightly', '{user:1}:lock', 'a{b}c{d}', '{}x{y}', 'ünïcødé', '🔒', ...Array.from({ length: 20 }, () => randomToken())]
  for (const key of keys) {
    const slot = await cluster.slotOf(key)
    assert.is(keySlot(key), slot, key)
    assert.is(await cluster.slotOf(slotChannel(key, 'leaselock:wake:x')), slot, `the wake channel of ${key} shares its slot`)
  }
})

S('locks on keys of all three masters, with hash tags and plain keys: one holder, growing fences, and a release wakes the waiter through SPUBLISH on the key\'s shard only', async () => {
  const holder = makeLock(redisStore((await connect()).driver))
  const waiterChannel = `leaselock:wake:${randomToken()}`
  const waiterStore = redisStore((await connect()).driver, { channel: waiterChannel })
  const waiter = makeLock(waiterStore, { retry: SLOW_POLL })
  const masters = await cluster.masters()
  assert.is(masters.length, 3)
  const prefix = `spread-${randomToken()}`
  for (const master of masters) {
    for (const tagged of [false, true]) {
      const key = await keyOn(master, tagged, prefix)
      const before = await Promise.all(masters.map((m) => commandCalls(m.port)))
      const first = right(await holder.acquire(key, 10_000, 0)(), `acquire ${key}`)
      assert.ok(E.isLeft(await waiter.acquire(key, 10_000, 0)()), `${key} is held`)
      const waiting = timed(() => waiter.acquire(key, 10_000, 5_000)())
      await eventually(`the waiter of ${key} queued`, async () => Number(await cli(master.port, 'ZCARD', queueOf(key))) === 2, 2_000, 5)
      const channel = slotChannel(key, waiterChannel)
      for (const m of masters)
        assert.equal(await cli(m.port, 'PUBSUB', 'SHARDNUMSUB', channel), [channel, m === master ? 1 : 0], `${key}: the waiter listens on its key's master only`)
      right(await holder.release(first)(), `release ${key}`)
      const [handed, ms] = await waiting
      const second = right(handed, `handover of ${key}`)
      assert.ok(ms < 2_000, `${key}: woken by the handover, not by a poll (10 s away)`)
      assert.ok(second.fence > first.fence, `${key}: fence ${second.fence} > ${first.fence}`)
      right(await waiter.release(second)(), `release ${key} again`)
      const after = await Promise.all(masters.map((m) => commandCalls(m.port)))
      masters.forEach((m, i) => {
        const spublished = (after[i]!.get('spublish') ?? 0) - (before[i]!.get('spublish') ?? 0)
        assert.is(spublished, m === master ? 1 : 0, `${key}: SPUBLISH ran on its own master only`)
        assert.is(after[i]!.get('publish') ?? 0, before[i]!.get('publish') ?? 0, `${key}: no cluster-wide PUBLISH`)
      })
    }
  }
})

S('TRYAGAIN while the key\'s slot migrates: the acquire is sent again until the migration completes, within its deadline', async () => {
  const lock = makeLock(redisStore((await connect(3_000)).driver))
  // Its own cluster client, whose slot map goes stale with the migration: its first WAIT-ed script meets MOVED.
  const synced = makeLock(redisStore((await connect(3_000)).driver, { syncReplicas: 1, syncTimeoutMs: 1_000 }))
  const key = `{migrating-${randomToken()}}:job`
  const held = right(await lock.acquire(key, 10_000, 0)(), 'acquire before the migration')
  const slot = keySlot(key)
  const owner = await cluster.masterOfSlot(slot)
  const target = (await cluster.masters()).find((m) => m !== owner)!
  const errorsBefore = await Promise.all([owner, target].map((m) => cluster.errorCounts(m)))
  const migration = await cluster.beginMigration(slot, target)
  const acquiring = timed(() => lock.acquire(`{${key.slice(1, key.indexOf('}'))}}:other`, 10_000, 0)())
  await sleep(300)
  await migration.finish()
  const [acquired, ms] = await acquiring
  const lease = right(acquired, 'acquire during the migration')
  assert.ok(ms >= 250 && ms < 3_000 + SLACK, `answered after the migration completed: ${ms.toFixed(0)} ms`)
  const errorsAfter = await Promise.all([owner, target].map((m) => cluster.errorCounts(m)))
  const tryAgain = errorsAfter.reduce((n, after, i) => n + (after.get('TRYAGAIN') ?? 0) - (errorsBefore[i]!.get('TRYAGAIN') ?? 0), 0)
  assert.ok(tryAgain > 0, 'the cluster answered TRYAGAIN meanwhile')
  assert.is(await cluster.masterOfSlot(slot), target, 'the slot moved')
  const movedBefore = (await cluster.errorCounts(owner)).get('MOVED') ?? 0
  const acknowledged = right(await synced.acquire(`{${key.slice(1, key.indexOf('}'))}}:synced`, 10_000, 0)(), 'a WAIT-ed acquire with a stale slot map')
  assert.ok(((await cluster.errorCounts(owner)).get('MOVED') ?? 0) > movedBefore, 'it met MOVED on the old owner, then ran on the new one')
  right(await synced.release(acknowledged)(), 'release')
  right(await lock.release(held)(), 'the lease taken before the migration releases on the new owner')
  right(await lock.release(lease)(), 'and so does the one taken during it')
  figures.push(`migration: an acquire on a migrating slot answered ${ms.toFixed(0)} ms later, once the slot had moved (window 300 ms)`)
})

S('CLUSTERDOWN (a slot nobody serves): re-sent until the slot is served again; past the deadline, a determinate DRIVER_FAILURE', async () => {
  // On a cluster of its own: taking a slot away by hand (DELSLOTS) leaves a slot map that a later failover can get wrong.
  const single = await startSingleNodeCluster()
  const connection = right(
    await connectRedisCluster({ rootNodes: [{ host: single.host, port: single.port }], connectTimeoutMs: CONNECT_MS, commandTimeoutMs: COMMAND_MS })(),
    'connect to a one-node cluster'
  )
  try {
    const lock = makeLock(redisStore(connection.driver))
    const key = `clusterdown-${randomToken()}`
    const slot = String(keySlot(key))
    await cli(single.port, 'CLUSTER', 'DELSLOTS', slot)
    const [failed, ms] = await timed(() => lock.acquire(key, 10_000, 0)())
    assert.ok(E.isLeft(failed) && failed.left._tag === 'DriverFailure', 'fails')
    assert.ok(E.isLeft(failed) && failed.left._tag === 'DriverFailure' && !failed.left.indeterminate, 'determinate: the command never ran')
    assert.match(E.isLeft(failed) ? message(failed.left) : '', 'CLUSTERDOWN')
    // The last try is made no later than one backoff step (100 ms at most) before the deadline.
    assert.ok(ms >= COMMAND_MS - 150 && ms < COMMAND_MS + SLACK, `failed at its deadline: ${ms.toFixed(0)} ms`)
    const restoring = sleep(200).then(() => cli(single.port, 'CLUSTER', 'ADDSLOTS', slot))
    const [served, servedMs] = await timed(() => lock.acquire(key, 10_000, 0)())
    await restoring
    right(await lock.release(right(served, 'acquire while the slot is restored'))(), 'release')
    assert.ok(servedMs >= 150, `waited for the slot: ${servedMs.toFixed(0)} ms`)
    figures.push(`CLUSTERDOWN: failed after ${ms.toFixed(0)} ms (deadline ${COMMAND_MS}); served ${servedMs.toFixed(0)} ms after a call made 200 ms before the slot came back`)
  } finally {
    await connection.close()
    await single.stop()
  }
})

S('connectRedisCluster: nothing listening is CONNECT_FAILED at once, a node that never answers at the connect deadline (and its connection is closed); a closed connection refuses to subscribe', async () => {
  const refused = await freePort()
  const [r1, ms1] = await timed(() => connectRedisCluster({ rootNodes: [{ host: '127.0.0.1', port: refused }], connectTimeoutMs: 2_000 })())
  assert.ok(E.isLeft(r1) && r1.left._tag === 'ConnectFailed' && r1.left.target === `127.0.0.1:${refused}`, 'CONNECT_FAILED naming the root node')
  assert.match(E.isLeft(r1) ? message(r1.left) : '', 'ECONNREFUSED')
  assert.ok(ms1 < 1_000, `refused at once: ${ms1.toFixed(0)} ms`)
  // Reads (so it sees the client close its end) but never answers.
  const silent = createServer((socket) => socket.resume())
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  try {
    const port = (silent.address() as { port: number }).port
    const [r2, ms2] = await timed(() => connectRedisCluster({ rootNodes: [{ host: '127.0.0.1', port }], connectTimeoutMs: 300 })())
    assert.ok(E.isLeft(r2) && r2.left._tag === 'ConnectFailed', 'CONNECT_FAILED')
    assert.match(E.isLeft(r2) ? message(r2.left) : '', 'within 300 ms')
    assert.ok(ms2 >= 280 && ms2 < 300 + SLACK, `at the deadline: ${ms2.toFixed(0)} ms`)
    const open = (): Promise<number> => new Promise((resolve) => silent.getConnections((_, n) => resolve(n)))
    await eventually('the discovery connection to the silent node closed', async () => (await open()) === 0, 2_000, 20)
  } finally {
    silent.close()
  }
  const connection = await connect()
  await connection.close()
  const subscribed = await connection.driver.sSubscribe!('{x}channel', () => undefined)()
  assert.ok(E.isLeft(subscribed) && !subscribed.left.indeterminate, 'a determinate failure after close')
})

S('SIGKILL of the master that owns a held key\'s slot: calls settle within their deadlines with typed errors, the replica is promoted, the same lock objects work again, and a waiter is not stranded', async () => {
  const unhandledBefore = unhandled().length
  const connection = await connect(COMMAND_MS)
  const lock = makeLock(redisStore(connection.driver))
  const synced = makeLock(redisStore(connection.driver, { syncReplicas: 1, syncTimeoutMs: 1_000 }))
  // Polls only after 10 s (its safety net is one claim TTL, 10 s here, and its retry policy is as slow):
  // it is woken by the handover, or (notification lost) finds the key then.
  const waiter = makeLock(redisStore((await connect(COMMAND_MS)).driver, { claimMs: 10_000 }), { retry: SLOW_POLL })
  const component = new RedisLock()
  component.configure({
    connections: Object.fromEntries(cluster.rootNodes.map((n, i) => [`node${i}`, n])),
    options: { mode: 'cluster', connect_timeout: CONNECT_MS, command_timeout: COMMAND_MS, retry_timeout: 50 }
  })
  await component.open('kill')
  const tag = `killed-${randomToken()}`
  const key = `{${tag}}:core`
  const classKey = `{${tag}}:class`
  const master = await cluster.masterOfSlot(keySlot(key))
  const replica = await cluster.replicaOf(master)
  try {
    // Acknowledged by the replica: the lease survives the promotion.
    const lease: Lease = right(await synced.acquire(key, 30_000, 0)(), 'acquire (acknowledged by the replica)')
    await component.acquireLock('kill', classKey, 30_000, 0)
    const waiting = waiter.acquire(key, 30_000, 25_000)()
    await eventually('the waiter queued', async () => Number(await cli(master.port, 'ZCARD', queueOf(key))) === 2, 2_000, 5)

    const killedAt = performance.now()
    await master.kill()

    const [released, releaseMs] = await timed(() => lock.release(lease)())
    assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure', `release during the outage: ${E.isLeft(released) ? message(released.left) : 'Right'}`)
    assert.ok(releaseMs < COMMAND_MS + SLACK, `release settled after ${releaseMs.toFixed(0)} ms`)
    const [extended, extendMs] = await timed(() => lock.extend(lease, 30_000)())
    assert.ok(E.isLeft(extended) && extended.left._tag === 'DriverFailure', 'extend during the outage')
    assert.ok(extendMs < COMMAND_MS + SLACK, `extend settled after ${extendMs.toFixed(0)} ms`)
    const [acquired, acquireMs] = await timed(() => lock.acquire(`{${tag}}:other`, 30_000, 300)())
    assert.ok(E.isLeft(acquired) && acquired.left._tag === 'DriverFailure', `acquire during the outage: ${E.isLeft(acquired) ? message(acquired.left) : 'Right'}`)
    assert.ok(acquireMs < 300 + COMMAND_MS + SLACK, `acquire settled after ${acquireMs.toFixed(0)} ms`)
    const [classError, classMs] = await timed(() => thrown(() => component.acquireLock('kill', `{${tag}}:class-2`, 30_000, 300)))
    assert.is(classError.code, 'DRIVER_FAILURE')
    assert.ok(classMs < 300 + COMMAND_MS + SLACK, `acquireLock settled after ${classMs.toFixed(0)} ms`)

    await eventually('the replica promoted', async () => String(await cli(replica.port, 'INFO', 'replication')).includes('role:master'), 15_000)
    const promotedMs = performance.now() - killedAt
    const backMs = await eventually('the same lock releases the surviving lease', async () => E.isRight(await lock.release(lease)()), 15_000, 50)
    const releasedAt = performance.now()
    const handed = right(await waiting, 'the waiter queued before the kill')
    const handedMs = performance.now() - releasedAt
    assert.ok(handed.fence > lease.fence, 'the waiter got the key once the surviving lease was released')
    right(await waiter.release(handed)(), 'release by the waiter')
    const again = right(await lock.acquire(key, 10_000, 0)(), 'the same lock acquires the key again')
    right(await lock.release(again)(), 'and releases it')
    await component.releaseLock('kill', classKey)
    assert.ok(await component.tryAcquireLock('kill', classKey, 1_000), 'the same component works again')
    assert.is(unhandled().length, unhandledBefore, 'no unhandled rejection')
    figures.push(
      `SIGKILL of a master: release/extend/acquire(300) settled in ${releaseMs.toFixed(0)}/${extendMs.toFixed(0)}/${acquireMs.toFixed(0)} ms; replica promoted ${promotedMs.toFixed(0)} ms after the kill; the same lock released the surviving lease ${backMs.toFixed(0)} ms after that; the waiter had the key ${handedMs.toFixed(0)} ms after the release (${handedMs < 1_000 ? 'woken' : 'by its poll'})`
    )
  } finally {
    await component.close('kill')
    await master.restart()
    await cluster.healthy()
  }
})

S('a slot migration while 4 processes (two over the class API, two over the core) lock a key of that slot: 0 overlapping critical sections, exact counter', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'leaselock-cluster-exclusion-'))
  try {
    const counterFile = join(dir, 'count')
    await writeFile(counterFile, '0')
    const key = `{moving-${randomToken()}}:job`
    const slot = keySlot(key)
    const [root] = cluster.rootNodes
    const tasks = Array.from({ length: 4 }, (_, i): WorkerTask => ({
      backend: 'redis-cluster',
      host: root!.host,
      port: root!.port,
      mode: 'count',
      api: i % 2 === 0 ? 'class' : 'core',
      key,
      iterations: 40,
      ttlMs: 10_000,
      holdMs: 2,
      timeoutMs: 20_000,
      counterFile
    }))
    const owner = await cluster.masterOfSlot(slot)
    const target = (await cluster.masters()).find((m) => m !== owner)!
    const scripts = async (node: ClusterNode): Promise<number> => {
      const calls = await commandCalls(node.port)
      return (calls.get('evalsha') ?? 0) + (calls.get('eval') ?? 0)
    }
    const scriptsBefore = await Promise.all([owner, target].map(scripts))
    let started: () => void = () => undefined
    const go = new Promise<void>((resolve) => (started = resolve))
    const running = runWorkers(tasks, 60_000, () => started())
    await go
    const t0 = performance.now()
    // Once the workers lock on the slot's owner (they connect after the start): the slot stays half-moved for 200 ms, then moves.
    await eventually('the workers lock on the owner', async () => (await scripts(owner)) > scriptsBefore[0]! + 20, 20_000, 20)
    const migration = await cluster.beginMigration(slot, target)
    await sleep(200)
    await migration.finish()
    const migratedAt = performance.now() - t0
    const ran = await running
    const errors = ran.reports.flatMap((r) => r.errors)
    assert.equal(errors, [], 'no worker failed')
    assert.equal(ran.exitCodes, [0, 0, 0, 0], 'every worker ended on its own with status 0')
    const sections = ran.reports.flatMap((r) => r.sections)
    assert.is(sections.length, 160)
    assert.is(Number(await readFile(counterFile, 'utf8')), 160, 'no update was lost')
    assert.equal(overlaps(sections), [], 'critical sections never overlap')
    assert.ok(migratedAt < ran.ms, `the migration (done at ${migratedAt.toFixed(0)} ms) happened while the workers ran (${ran.ms.toFixed(0)} ms)`)
    assert.is(await cluster.masterOfSlot(slot), target, 'the slot moved')
    const [onOwner, onTarget] = (await Promise.all([owner, target].map(scripts))).map((n, i) => n - scriptsBefore[i]!)
    assert.ok(onOwner! > 0 && onTarget! > 0, `the workers locked on the old owner (${onOwner} scripts) and, after the move, on the new one (${onTarget})`)
    figures.push(`migration under 4 processes: 160 sections in ${ran.ms.toFixed(0)} ms, counter exact, 0 overlaps; slot moved at ${migratedAt.toFixed(0)} ms; scripts on the old owner ${onOwner}, on the new one ${onTarget}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

S.run()
