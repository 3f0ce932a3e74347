import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { memoryStore } from '../adapters/memory.js'
import { connectMemcached } from '../adapters/memjs.js'
import { connectRedis } from '../adapters/node-redis.js'
import { ManualClock } from '../src/Clock.js'
import { randomToken } from '../src/Environment.js'
import { Inspection, inspect, inspectionJson, showInspection } from '../src/Inspection.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { memcachedStore } from '../src/memcached/memcachedStore.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { redisStore } from '../src/redis/redisStore.js'
import type { Store } from '../src/Store.js'
import { sleep } from './support/expect.js'
import { MemcachedServer, memcachedStats, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'

const seen = async (store: Store, key: string): Promise<Inspection> => {
  const r = await inspect(store, key)()
  if (E.isLeft(r)) throw new Error(`inspect failed: ${r.left._tag === 'Unsupported' ? r.left.why : message(r.left)}`)
  return r.right
}
const known = <A>(field: E.Either<unknown, A>): A => {
  if (E.isLeft(field)) throw new Error(`expected a known value, got ${JSON.stringify(field.left)}`)
  return field.right
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(message(r.left))
  return r.right
}

const Memory = suite('inspect: memory store')

Memory('free, held, waited for, handed over and expired, on a manual clock', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  const lock = makeLock(store, { env: { clock, random: () => 0.5, token: randomToken } })
  const free = await seen(store, 'k')
  assert.equal([free.held, free.remainingMs, free.waiters], [false, E.right(0), E.right(0)])
  assert.ok(E.isLeft(free.fence) && free.fence.left.what === 'fence', 'a free key has left no fence behind')

  const lease = leaseOf(await lock.acquire('k', 10_000, 0)())
  clock.advance(2_500)
  assert.ok(store.queue !== undefined)
  await store.queue.acquireOrEnqueue('k', 'patient', 10_000, 60_000)()
  await store.queue.acquireOrEnqueue('k', 'hasty', 10_000, 1_000)()
  const held = await seen(store, 'k')
  assert.equal([held.held, known(held.remainingMs), known(held.fence), known(held.waiters)], [true, 7_500, lease.fence, 2])
  clock.advance(1_000)
  assert.is(known((await seen(store, 'k')).waiters), 1, 'a waiter past its deadline is not counted')
  await lock.release(lease)()
  const handed = await seen(store, 'k')
  assert.equal([handed.held, known(handed.remainingMs), known(handed.waiters)], [true, 1_000, 0], 'handed to the patient waiter for its claim TTL')
  clock.advance(1_000)
  assert.is((await seen(store, 'k')).held, false, 'the unclaimed handover expired')
})

Memory('bad keys are refused before the store is asked; a store without inspect answers Unsupported', async () => {
  const bad = await inspect(memoryStore(), '')()
  assert.ok(E.isLeft(bad) && bad.left._tag === 'InvalidArgument')
  const { inspect: _ignored, ...plain } = memoryStore()
  const r = await inspect(plain, 'k')()
  assert.ok(E.isLeft(r) && r.left._tag === 'Unsupported' && r.left.what === 'inspect' && r.left.store === 'memory')
})

Memory('text and JSON renderings', () => {
  const i: Inspection = { key: 'k', held: true, remainingMs: E.right(Infinity), fence: E.right(12n), waiters: E.right(0) }
  assert.match(showInspection(i), 'remaining  never expires')
  assert.equal(inspectionJson(i), { key: 'k', held: true, remainingMs: 'never', fence: '12', waiters: 0 })
})

Memory.run()

const Redis = suite('inspect: redis (one read-only script)')
let server: RedisServer
let connection: RedisConnection
let store: Store
const send = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await connection.driver.send(command)()
  if (E.isLeft(r)) throw new Error(String(r.left.cause))
  return r.right
}

Redis.before(async () => {
  server = await startRedis()
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  connection = r.right
  store = redisStore(connection.driver)
})
Redis.after(async () => {
  await connection.close()
  await server.stop()
})

Redis('a key never locked: free, counter 0, nobody waiting, and inspecting wrote nothing', async () => {
  const key = `inspect:${randomToken()}`
  const before = Number(await send(['DBSIZE']))
  const i = await seen(store, key)
  assert.equal([i.held, known(i.remainingMs), known(i.fence), known(i.waiters)], [false, 0, 0n, 0])
  assert.is(Number(await send(['DBSIZE'])), before)
})

Redis('held: the TTL left, the fencing counter, the live waiters of this key only (not of a key sharing its queue, not past their deadline)', async () => {
  const key = `inspect:${randomToken()}`
  const lock = makeLock(store)
  const lease = leaseOf(await lock.acquire(key, 10_000, 0)())
  assert.ok(store.queue !== undefined)
  await store.acquire(`{${key}}`, 'other holder', 10_000)()
  await store.queue.acquireOrEnqueue(key, 'waiter', 10_000, 30_000)()
  await store.queue.acquireOrEnqueue(key, 'ghost', 10_000, 50)()
  await store.queue.acquireOrEnqueue(`{${key}}`, 'waits for the tagged key', 10_000, 30_000)()
  await sleep(80)
  const i = await seen(store, key)
  assert.is(i.held, true)
  assert.ok(known(i.remainingMs) > 9_000 && known(i.remainingMs) <= 10_000, `remaining ${known(i.remainingMs)}`)
  assert.is(known(i.fence), lease.fence, 'the counter of this key: {key} counts in a counter of its own')
  assert.is(known(i.waiters), 1)
  assert.is(Number(await send(['ZCARD', `{${key}}:queue`])) / 2, 3, 'three entries in the shared queue, one of them live and for this key')

  await lock.release(lease)()
  const handed = await seen(store, key)
  assert.equal([handed.held, known(handed.waiters)], [true, 0], 'handed to the waiter')
  assert.is(known(handed.fence), lease.fence + 1n, 'the handover took the next fence')
  await store.release({ key, token: 'waiter', revision: '' })()
  const free = await seen(store, key)
  assert.equal([free.held, known(free.remainingMs), known(free.fence)], [false, 0, lease.fence + 1n], 'free: the counter keeps the latest fence')
  await store.queue.leave(`{${key}}`, 'waits for the tagged key')()
  await store.release({ key: `{${key}}`, token: 'other holder', revision: '' })()
})

Redis('a key someone set without a TTL never expires; a reserved key name is refused before any I/O', async () => {
  const key = `inspect:${randomToken()}`
  await send(['SET', key, 'by hand'])
  assert.is(known((await seen(store, key)).remainingMs), Infinity)
  const calls = async (): Promise<string> => String(await send(['INFO', 'commandstats']))
  const before = (await calls()).match(/cmdstat_evalsha:calls=(\d+)/)?.[1]
  const r = await inspect(store, `${key}:fence`)()
  assert.ok(E.isLeft(r) && r.left._tag === 'InvalidArgument')
  assert.is((await calls()).match(/cmdstat_evalsha:calls=(\d+)/)?.[1], before, 'no script ran')
})

Redis.run()

const Memcached = suite('inspect: memcached (held, and nothing more)')
let mc: MemcachedServer

Memcached.before(async () => {
  mc = await startMemcached()
})
Memcached.after(async () => {
  await mc.stop()
})

Memcached('held or not from one GET; TTL, fence and waiters are Unsupported, each with its reason', async () => {
  const r = await connectMemcached({ servers: [{ host: mc.host, port: mc.port }], connectTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  try {
    const store = memcachedStore(r.right.driver)
    const key = `inspect:${randomToken()}`
    assert.is((await seen(store, key)).held, false)
    const lease = leaseOf(await makeLock(store).acquire(key, 10_000, 0)())
    const getsBefore = (await memcachedStats(mc.port)).cmd_get
    const i = await seen(store, key)
    assert.is(i.held, true)
    assert.is((await memcachedStats(mc.port)).cmd_get, (getsBefore ?? 0) + 1, 'one GET')
    for (const field of ['remainingMs', 'fence', 'waiters'] as const) {
      const value = i[field]
      assert.ok(E.isLeft(value) && value.left.what === field && value.left.store === 'memcached' && value.left.why.length > 0, field)
    }
    assert.equal(O.some(lease.key), O.some(i.key))
    const bad = await inspect(store, 'has space')()
    assert.ok(E.isLeft(bad) && bad.left._tag === 'InvalidArgument')
  } finally {
    await r.right.close()
  }
})

Memcached.run()
