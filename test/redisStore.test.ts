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
import { redisStore } from '../src/redis/redisStore.js'
import { fenceKey } from '../src/redis/keys.js'
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

S('the lock key holds the token with the TTL asked for; the fencing counter beside it never expires', async () => {
  const k = key()
  const grant = some(await store.acquire(k, 'tok', 5000)())
  assert.is(await send(['GET', k]), 'tok')
  const pttl = await send(['PTTL', k])
  assert.ok(typeof pttl === 'number' && pttl > 4000 && pttl <= 5000, `PTTL ${String(pttl)}`)
  assert.is(await send(['GET', `{${k}}:fence`]), String(grant.fence))
  assert.is(await send(['PTTL', `{${k}}:fence`]), -1)
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
    for (const k of keys) {
      const counter = fenceKey(k)
      if (E.isLeft(counter)) throw new Error(`no counter for ${k}`)
      assert.is(await slot(counter.right), await slot(k), `${k} and ${counter.right}`)
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
