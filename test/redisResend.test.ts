import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../adapters/node-redis.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import { message } from '../src/LockError.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { redisStore } from '../src/redis/redisStore.js'
import { acquireOrEnqueueScript, acquireScript, evalCommand, extendScript, pollScript, releaseScript } from '../src/redis/scripts.js'
import { RedisServer, startRedis } from './support/redisServer.js'

// node-redis's Sentinel client sends a command again when the primary failed
// while it was in flight (or answered READONLY after a demotion): the first
// run may have happened. Here each script runs twice in a row, as the same
// argument vector, which is exactly what the second run of a re-sent command
// sees (or with another client acting in between).

const S = suite('every lock script is idempotent for its own token (a command re-sent after a failover)')
let server: RedisServer
let connection: RedisConnection

const run = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await connection.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command[0]} failed: ${String(r.left.cause)}`)
  return r.right
}
/** A fresh key whose counter stands at 0 (a missing one is seeded from the clock): its grants are numbered 1, 2, … */
const key = async (): Promise<string> => {
  const k = `resend-${randomToken()}`
  await run(['SET', `{${k}}:fence`, '0'])
  return k
}
const IDLE = '86400000'
const companions = (k: string): [string, string, string, string] => [k, `{${k}}:fence`, `{${k}}:queue`, `{${k}}:waiters`]
const acquire = (k: string, token: string): ReadonlyArray<string> => evalCommand(acquireScript, [k, `{${k}}:fence`], [token, '10000', IDLE])
const enqueue = (k: string, token: string): ReadonlyArray<string> =>
  evalCommand(acquireOrEnqueueScript, companions(k), [token, '10000', '10000', 'leaselock:wake:test', '1000', IDLE])
const release = (k: string, token: string): ReadonlyArray<string> => evalCommand(releaseScript, companions(k), [token, IDLE])
const extend = (k: string, token: string, ttl = '10000'): ReadonlyArray<string> => evalCommand(extendScript, [k, `{${k}}:fence`], [token, ttl, IDLE])
/** How many waiters the key's queue holds (two members each: by arrival and by deadline). */
const queued = async (k: string): Promise<number> => Number(await run(['ZCARD', `{${k}}:queue`])) / 2

S.before(async () => {
  server = await startRedis()
  const c = await connectRedis({ host: server.host, port: server.port })()
  if (E.isLeft(c)) throw new Error(message(c.left))
  connection = c.right
})
S.after(async () => {
  await connection.close()
  await server.stop()
})

S('acquire re-sent after it won answers the grant it won (same fence), never "held", and does not count again', async () => {
  const k = await key()
  const first = await run(acquire(k, 'a'))
  assert.is(first, '1')
  assert.is(await run(acquire(k, 'a')), '1', 'the same fence again')
  assert.is(await run(['GET', `{${k}}:fence`]), '1', 'the counter did not move')
  assert.is(await run(acquire(k, 'b')), null, 'another token is still refused')
})

S('acquireOrEnqueue re-sent after it won answers the grant; re-sent after it queued, it does not queue twice', async () => {
  const k = await key()
  assert.equal(await run(enqueue(k, 'a')), [1, '1'])
  assert.equal(await run(enqueue(k, 'a')), [1, '1'], 'the grant it won, not a place in the queue')
  assert.is(await queued(k), 0)
  const [flag, seen, pttl] = (await run(enqueue(k, 'b'))) as [number, string, number]
  assert.equal([flag, seen], [0, '1'])
  assert.ok(pttl > 9_000 && pttl <= 10_000, `the holder's remaining TTL: ${pttl}`)
  assert.equal(((await run(enqueue(k, 'b'))) as ReadonlyArray<unknown>).slice(0, 2), [0, '1'])
  assert.is(await queued(k), 1, 'one entry for b')
})

S('acquireOrEnqueue re-sent after the key was handed to it answers the grant and resets the TTL from the claim to the one asked', async () => {
  const k = await key()
  await run(enqueue(k, 'a'))
  await run(enqueue(k, 'b'))
  assert.is(await run(release(k, 'a')), 1, 'handed to b for its claim TTL (1000 ms)')
  assert.equal(await run(enqueue(k, 'b')), [1, '2'])
  const pttl = Number(await run(['PTTL', k]))
  assert.ok(pttl > 9000, `the TTL asked for, not the claim's: ${pttl}`)
})

S('acquireOrEnqueue and poll re-sent after the holder extended to a longer TTL never shorten it (a late copy must not cut an extend made since)', async () => {
  const k = await key()
  assert.equal(await run(enqueue(k, 'a')), [1, '1'])
  assert.is(await run(extend(k, 'a', '60000')), '1')
  assert.equal(await run(enqueue(k, 'a')), [1, '1'], 'the late copy answers the grant')
  assert.ok(Number(await run(['PTTL', k])) > 50_000, 'and leaves the longer TTL')
  const poll = evalCommand(pollScript, companions(k), ['a', '10000', '10000', 'leaselock:wake:test', '1000', IDLE])
  assert.equal(await run(poll), [1, '1'])
  assert.ok(Number(await run(['PTTL', k])) > 50_000, 'so does a late poll')
})

S('release re-sent after the key went to a later holder (directly or by handover) never touches it', async () => {
  const k = await key()
  await run(enqueue(k, 'a'))
  await run(enqueue(k, 'b'))
  assert.is(await run(release(k, 'a')), 1, 'a releases, the key is handed to b')
  assert.is(await run(release(k, 'a')), 0, 'the re-sent release does nothing')
  assert.is(await run(['GET', k]), 'b')
  assert.equal(await run(evalCommand(pollScript, companions(k), ['b', '10000', '10000', 'leaselock:wake:test', '1000', IDLE])), [1, '2'], 'b claims')
  const plain = await key()
  await run(acquire(plain, 'a'))
  await run(release(plain, 'a'))
  await run(acquire(plain, 'c'))
  assert.is(await run(release(plain, 'a')), 0)
  assert.is(await run(['GET', plain]), 'c', 'the later holder keeps the key')
})

S('extend re-sent after the key went to a later holder never touches it; re-sent while ours, it extends again', async () => {
  const k = await key()
  await run(acquire(k, 'a'))
  assert.is(await run(extend(k, 'a')), '1')
  assert.is(await run(extend(k, 'a')), '1', 'harmless while ours: the same fence')
  await run(release(k, 'a'))
  await run(acquire(k, 'c'))
  await run(['PEXPIRE', k, '5000'])
  assert.is(await run(extend(k, 'a', '60000')), null)
  const pttl = Number(await run(['PTTL', k]))
  assert.ok(pttl <= 5000, `the later holder's TTL is untouched: ${pttl}`)
})

S('a late acquire that takes the lapsed key again for the same token: the holder\'s extend answers the new fence, the one the server holds', async () => {
  const lock = makeLock(redisStore(connection.driver))
  const k = await key()
  const lease = await lock.tryAcquire(k, 40)()
  assert.ok(E.isRight(lease) && lease.right._tag === 'Some')
  const held = lease.right.value
  await new Promise((resolve) => setTimeout(resolve, 80))
  assert.is(await run(['EXISTS', k]), 0, 'the lease lapsed')
  assert.is(await run(acquire(k, held.token)), String(held.fence + 1n), 'the same acquire, late: a new grant for the same token')
  const extended = await lock.extend(held, 10_000)()
  assert.ok(E.isRight(extended), 'the token is still ours')
  assert.is(extended.right.fence, held.fence + 1n, 'the extended lease carries the fence the key is under now')
  assert.is(await run(['GET', `{${k}}:fence`]), String(extended.right.fence))
  assert.ok(E.isRight(await lock.release(extended.right)()))
})

S.run()
