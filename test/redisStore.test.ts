import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { createClient } from 'redis'
import { connectRedis, nodeRedisDriver } from '../adapters/node-redis.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { DEFAULT_FENCE_IDLE_MS, redisStore } from '../src/redis/redisStore.js'
import { fenceKey, queueKey, waitersKey } from '../src/redis/keys.js'
import { acquireOrEnqueueScript, acquireScript, extendScript, leaveScript, pollScript, releaseScript } from '../src/redis/scripts.js'
import type { Store } from '../src/Store.js'
import { conformance } from './support/conformance.js'
import { RedisServer, startRedis } from './support/redisServer.js'

const mustConnect = async (options: Parameters<typeof connectRedis>[0]): Promise<RedisConnection> => {
  const connected = await connectRedis(options)()
  if (E.isLeft(connected)) throw new Error(`connect failed: ${JSON.stringify(connected.left)}`)
  return connected.right
}

conformance('redis (node-redis)', async () => {
  const server = await startRedis()
  const connection = await mustConnect({ uri: server.url, connectTimeoutMs: 2000 })
  return {
    store: redisStore(connection.driver),
    close: async () => {
      await connection.close()
      await server.stop()
    }
  }
}, { ttlMs: 200, expiryWaitMs: 400, idempotentAcquire: true })

const S = suite('redis store on a real server')
let server: RedisServer
let connection: RedisConnection
let store: Store
let prefix = ''
let n = 0
const key = (): string => `${prefix}:${n++}`
const send = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await connection.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`send failed: ${String(r.left.cause)}`)
  return r.right
}
const some = <A>(r: E.Either<unknown, O.Option<A>>): A => {
  if (E.isLeft(r) || O.isNone(r.right)) throw new Error(`expected right(some), got ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`)
  return r.right.value
}

S.before(async () => {
  server = await startRedis()
  connection = await mustConnect({ host: server.host, port: server.port, connectTimeoutMs: 2000 })
  store = redisStore(connection.driver)
  prefix = `store-${randomToken()}`
})
S.after(async () => {
  await connection.close()
  await server.stop()
})

S('the precomputed SHA1s are the ones the server computes', async () => {
  for (const s of [acquireScript, releaseScript, extendScript, acquireOrEnqueueScript, pollScript, leaveScript]) assert.is(await send(['SCRIPT', 'LOAD', s.source]), s.sha1)
})

S('the lock key holds the token with the TTL asked for; the fencing counter beside it expires after the idle period (a day by default)', async () => {
  const k = key()
  const grant = some(await store.acquire(k, 'tok', 5000)())
  assert.is(await send(['GET', k]), 'tok')
  const pttl = await send(['PTTL', k])
  assert.ok(typeof pttl === 'number' && pttl > 4000 && pttl <= 5000, `PTTL ${String(pttl)}`)
  assert.is(await send(['GET', `{${k}}:fence`]), String(grant.fence))
  const counterTtl = Number(await send(['PTTL', `{${k}}:fence`]))
  assert.ok(counterTtl > DEFAULT_FENCE_IDLE_MS - 5_000 && counterTtl <= DEFAULT_FENCE_IDLE_MS, `counter PTTL ${counterTtl}`)
})

/** The server's clock in microseconds. */
const serverMicros = async (): Promise<bigint> => {
  const [s, us] = (await send(['TIME'])) as ReadonlyArray<string>
  return BigInt(s!) * 1_000_000n + BigInt(us!)
}

S('a missing counter is seeded from the server clock in microseconds; a live one counts one per grant; extend keeps it alive', async () => {
  const k = key()
  const before = await serverMicros()
  const seeded = some(await store.acquire(k, 'a', 10_000)()).fence
  assert.ok(seeded >= before && seeded <= (await serverMicros()), `seeded ${seeded} from the clock (${before})`)
  await send(['PEXPIRE', `{${k}}:fence`, '60000'])
  some(await store.extend({ key: k, token: 'a', revision: '' }, 10_000)())
  assert.ok(Number(await send(['PTTL', `{${k}}:fence`])) > 60_000, 'extend kept the counter for another idle period')
  await store.release({ key: k, token: 'a', revision: '' })()
  await send(['SET', `{${k}}:fence`, '41'])
  assert.is(some(await store.acquire(k, 'b', 10_000)()).fence, 42n, 'a live counter (even one far behind the clock) counts on')
})

S('re-seeding after the idle period: the fence is above every earlier one, and nothing of the key is left meanwhile', async () => {
  const short = redisStore(connection.driver, { fenceIdleMs: 50 })
  const k = key()
  const fences: bigint[] = []
  await send(['SET', `{${k}}:fence`, '7', 'PX', '50'])
  for (const token of ['a', 'b', 'c']) {
    const grant = some(await short.acquire(k, token, 10_000)())
    fences.push(grant.fence)
    await short.release({ key: k, token, revision: grant.revision })()
  }
  assert.equal(fences, [8n, 9n, 10n])
  const counterTtl = Number(await send(['PTTL', `{${k}}:fence`]))
  assert.ok(counterTtl > 0 && counterTtl <= 50, `the counter lives one idle period: PTTL ${counterTtl}`)
  await new Promise((resolve) => setTimeout(resolve, 120))
  assert.is(await send(['EXISTS', k, `{${k}}:fence`, `{${k}}:queue`, `{${k}}:waiters`]), 0, 'the key left nothing behind')
  const again = some(await short.acquire(k, 'd', 10_000)()).fence
  assert.ok(again > fences[2]!, `re-seeded above every earlier fence: ${again}`)
  await short.release({ key: k, token: 'd', revision: '' })()
  assert.ok(E.isLeft(redisStore(connection.driver, { fenceIdleMs: 0 }).checkKey('k')), 'a bad idle period fails before any I/O')
  assert.ok(E.isLeft(redisStore(connection.driver, { fenceIdleMs: 1.5 }).checkKey('k')))
})

S('dead entries (waiters gone without leaving) are dropped at most 100 per script; the live waiter behind them gets the key', async () => {
  const k = key()
  const queue = store.queue!
  some(await store.acquire(k, 'holder', 10_000)())
  assert.ok(E.isRight(await queue.acquireOrEnqueue(k, 'first', 10_000, 30_000)()), 'a live first waiter keeps the queue alive')
  for (let i = 0; i < 250; i++) assert.ok(E.isRight(await queue.acquireOrEnqueue(k, `dead ${i}`, 10_000, 1)()))
  assert.ok(E.isRight(await queue.acquireOrEnqueue(k, 'last', 10_000, 30_000)()))
  await new Promise((resolve) => setTimeout(resolve, 10))
  const entries = async (): Promise<number> => Number(await send(['ZCARD', `{${k}}:queue`])) / 2
  assert.is(await entries(), 252)
  assert.is(Number(await send(['HLEN', `{${k}}:waiters`])), 253, 'one index field per waiter, and the last place given')
  assert.equal(await store.release({ key: k, token: 'holder', revision: '' })(), E.right(true))
  assert.is(await send(['GET', k]), 'first')
  assert.is(await entries(), 151, 'the release dropped 100 dead entries, and handed the key to the first waiter')
  await store.release({ key: k, token: 'first', revision: '' })()
  assert.is(await entries(), 51, '100 more dropped')
  assert.is(await send(['EXISTS', k]), 0, 'the key is freed: the next in line is dead still')
  some(await store.acquire(k, 'another holder', 10_000)())
  await store.release({ key: k, token: 'another holder', revision: '' })()
  assert.is(await send(['GET', k]), 'last', 'the last dead ones dropped, the live waiter is handed the key')
  assert.is(await send(['EXISTS', `{${k}}:queue`, `{${k}}:waiters`]), 0, 'the queue and its index are gone with the last entry')
  await store.release({ key: k, token: 'last', revision: '' })()
})

S('1,000 waiters leave in any order; the queue keeps arrival order for the rest, and a poll put back goes to the head', async () => {
  const k = key()
  const queue = store.queue!
  some(await store.acquire(k, 'holder', 10_000)())
  for (let i = 0; i < 1_000; i++) await queue.acquireOrEnqueue(k, `w${i}`, 10_000, 30_000)()
  for (let i = 0; i < 1_000; i++) if (i % 10 !== 7) await queue.leave(k, `w${i}`)()
  assert.is(Number(await send(['ZCARD', `{${k}}:queue`])) / 2, 100)
  const poll = await queue.poll(k, 'back at the head', 10_000, 30_000)()
  assert.ok(E.isRight(poll) && poll.right._tag === 'Waiting')
  const served: string[] = []
  let holder = 'holder'
  for (let i = 0; i < 101; i++) {
    await store.release({ key: k, token: holder, revision: '' })()
    holder = String(await send(['GET', k]))
    served.push(holder)
  }
  assert.equal(served, ['back at the head', ...Array.from({ length: 100 }, (_, i) => `w${i * 10 + 7}`)])
  await store.release({ key: k, token: holder, revision: '' })()
  assert.is(await send(['EXISTS', k, `{${k}}:queue`, `{${k}}:waiters`]), 0)
})

S('fencing tokens strictly increase across acquisitions, expiries and holders', async () => {
  const k = key()
  const fences: bigint[] = []
  for (let i = 0; i < 4; i++) {
    const token = `t${i}`
    const grant = some(await store.acquire(k, token, 10_000)())
    fences.push(grant.fence)
    assert.ok(E.isRight(await store.release({ key: k, token, revision: grant.revision })()))
  }
  fences.push(some(await store.acquire(k, 'short', 30)()).fence)
  await new Promise((resolve) => setTimeout(resolve, 60))
  fences.push(some(await store.acquire(k, 'after-expiry', 1000)()).fence)
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!, `${fences[i]} > ${fences[i - 1]}`)
})

S('keys with a hash tag keep it for their counter', async () => {
  const k = `{${key()}}:job`
  const grant = some(await store.acquire(k, 'tok', 5000)())
  assert.is(await send(['GET', `${k}:fence`]), String(grant.fence))
})

S('every key shares its cluster slot with its counter (CLUSTER KEYSLOT on a cluster-enabled server)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'leaselock-cluster-'))
  const cluster = await startRedis({ args: ['--cluster-enabled', 'yes', '--dir', dir] })
  const client = await mustConnect({ uri: cluster.url })
  try {
    const slot = async (k: string): Promise<RedisReply> => {
      const r = await client.driver.send(['CLUSTER', 'KEYSLOT', k])()
      if (E.isLeft(r) || typeof r.right !== 'number') throw new Error(`KEYSLOT ${k}: ${JSON.stringify(r)}`)
      return r.right
    }
    const keys = ['jobs:nightly', '{user:1}:lock', 'a{b', 'x}y{z}', '{a}}', '{{a}', 'ünïcødé', 'a{b}c{d}', ...Array.from({ length: 20 }, () => randomToken())]
    for (const k of keys)
      for (const companion of [fenceKey, queueKey, waitersKey]) {
        const name = companion(k)
        if (E.isLeft(name)) throw new Error(`no companion for ${k}`)
        assert.is(await slot(name.right), await slot(k), `${k} and ${name.right}`)
      }
    for (const k of ['{}{a}', 'a}b']) assert.ok(E.isLeft(fenceKey(k)), `${k} is hashed whole: no counter name can share its slot`)
  } finally {
    await client.close()
    await cluster.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

S('NOSCRIPT fallback: after SCRIPT FLUSH, release, extend and acquire still work', async () => {
  const k = key()
  const grant = some(await store.acquire(k, 'a', 10_000)())
  assert.is(await send(['SCRIPT', 'FLUSH']), 'OK')
  assert.equal(await send(['SCRIPT', 'EXISTS', releaseScript.sha1]), [0])
  some(await store.extend({ key: k, token: 'a', revision: grant.revision }, 20_000)())
  assert.equal(await store.release({ key: k, token: 'a', revision: grant.revision })(), E.right(true))
  assert.equal(await send(['SCRIPT', 'EXISTS', releaseScript.sha1]), [1], 'EVAL cached the script again')
  assert.is(await send(['SCRIPT', 'FLUSH']), 'OK')
  assert.ok(some(await store.acquire(k, 'b', 10_000)()).fence > grant.fence)
})

S('a key holding another type fails the scripts with a DriverFailure, not a throw', async () => {
  const k = key()
  assert.is(await send(['HSET', k, 'f', 'v']), 1)
  const released = await store.release({ key: k, token: 't', revision: '1' })()
  assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure' && released.left.indeterminate, 'a release script that fails reports that it may have written first')
  assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure' && String(released.left.cause).includes('WRONGTYPE'))
  assert.equal(await store.acquire(k, 't', 1000)(), E.right(O.none), 'SET NX refuses an existing key of any type')
})

S('a RESP2 node-redis client gives the same results', async () => {
  const client = createClient({ socket: { host: server.host, port: server.port }, RESP: 2 })
  client.on('error', () => undefined)
  await client.connect()
  try {
    const resp2 = redisStore(nodeRedisDriver(client))
    const k = key()
    const grant = some(await resp2.acquire(k, 'a', 10_000)())
    assert.equal(await resp2.acquire(k, 'b', 10_000)(), E.right(O.none))
    some(await resp2.extend({ key: k, token: 'a', revision: grant.revision }, 10_000)())
    assert.equal(await resp2.extend({ key: k, token: 'b', revision: grant.revision }, 10_000)(), E.right(O.none))
    assert.equal(await resp2.release({ key: k, token: 'a', revision: grant.revision })(), E.right(true))
  } finally {
    await client.close()
  }
})

S('the lock core over Redis: one holder at a time, then withLock hands the lease a fence', async () => {
  const lock = makeLock(store)
  const k = key()
  const first = await lock.acquire(k, 5000, 0)()
  assert.ok(E.isRight(first))
  const second = await lock.acquire(k, 5000, 30)()
  assert.ok(E.isLeft(second) && second.left._tag === 'Timeout')
  if (E.isRight(first)) assert.ok(E.isRight(await lock.release(first.right)()))
  const fence = await lock.withLock(k, 5000, { timeoutMs: 0 }, (lease) => async () => E.right(lease.fence))()
  assert.ok(E.isRight(fence) && E.isRight(first) && fence.right > first.right.fence)
})

S.run()
