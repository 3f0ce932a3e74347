/**
 * A hostile review of the handoff and keep-alive rules, on a real
 * redis-server: each test is one concrete interleaving that breaks a promise
 * the README makes. They fail on the code they were written against; each
 * names the file and line at fault and the fix it calls for.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { connectRedis, redisStore } from '../adapters/redis.js'
import { randomToken } from '../src/Environment.js'
import { keepAlive } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep } from './support/expect.js'

let server: RedisServer
let admin: RedisConnection
const connections: RedisConnection[] = []
let prefix = ''
let n = 0
const freshKey = (): string => `${prefix}:${n++}`

const connect = async (options: { commandTimeoutMs?: number; connectTimeoutMs?: number } = {}): Promise<RedisConnection> => {
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: options.connectTimeoutMs ?? 2_000, commandTimeoutMs: options.commandTimeoutMs ?? 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  connections.push(r.right)
  return r.right
}
const send = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await admin.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
  return r.right
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${message(r.left)}`)
  return r.right
}
/** Waits until the key's queue holds `length` entries. */
const queued = async (key: string, length: number): Promise<void> => {
  for (let i = 0; i < 400; i++) {
    if (Number(await send(['ZCARD', `{${key}}:queue`])) / 2 === length) return
    await sleep(5)
  }
  throw new Error(`the queue of ${key} never reached ${length}`)
}

const S = suite('attack (redis): handoff and keep-alive on a real server')

S.before(async () => {
  server = await startRedis()
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  admin = r.right
  prefix = `attack-${randomToken()}`
})

S.after(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()))
  await admin.close()
  await server.stop()
})

/**
 * The release script's `passOn` publishes `fence .. ' ' .. claim .. ' ' .. token`
 * where `fence` is INCR's result as a Lua number: Lua 5.1 formats it with
 * "%.14g", so from 10^14 on the message reads "1e+14 1000 <token>", which
 * the store's HANDOVER pattern rejects. Every notification is then dropped,
 * silently: each handover lapses after the claim TTL and the waiter gets the
 * key only from its fallback poll. The scripts elsewhere read the counter
 * with GET to stay exact "beyond 2^53"; this one path does not.
 */
S('a handover is announced at once whatever the fence counter holds (10^14 and above included)', async () => {
  for (const start of ['99999999998000', '99999999999999']) {
    const k = freshKey()
    await send(['SET', `{${k}}:fence`, start])
    const holder = makeLock(redisStore((await connect()).driver))
    const waiter = makeLock(redisStore((await connect()).driver), { retry: constantDelay(10_000) })
    const held = leaseOf(await holder.acquire(k, 60_000, 0)())
    const waiting = waiter.acquire(k, 5_000, 4_000)()
    await queued(k, 1)
    const t0 = performance.now()
    await holder.release(held)()
    const lease = leaseOf(await waiting)
    const after = Math.round(performance.now() - t0)
    assert.ok(after < 500, `counter ${start} (handover fence ${lease.fence}): handed over after ${after} ms, not at once — the notification was dropped and only the poll found the key`)
    await waiter.release(lease)()
  }
})

/**
 * `redisStore`'s `acquireOrEnqueue` (src/redis/redisStore.ts, `await listen()`)
 * opens the subscriber connection inside the first waiting acquire and waits
 * for it without any regard to the acquire's own timeout: up to the connect
 * deadline (5 s by default) plus a SUBSCRIBE command deadline. While the
 * subscriber cannot connect (here: the server's `maxclients` is reached, as
 * under a connection storm), every waiting acquire pays it again, since a
 * failed subscription is retried by the next one. The README promises
 * "`acquire` within its timeout plus one command".
 */
S('a waiting acquire ends within its timeout plus one command even when the subscriber connection cannot open', async () => {
  const k = freshKey()
  const commandTimeoutMs = 300
  const holderConnection = await connect()
  const waiterConnection = await connect({ commandTimeoutMs, connectTimeoutMs: 2_000 })
  const holder = makeLock(redisStore(holderConnection.driver))
  const waiter = makeLock(redisStore(waiterConnection.driver), { retry: constantDelay(20) })
  const held = leaseOf(await holder.acquire(k, 60_000, 0)())
  const clients = String(await send(['CLIENT', 'LIST'])).split('\n').filter((l) => l.trim() !== '').length
  await send(['CONFIG', 'SET', 'maxclients', String(clients)])
  let elapsed = 0
  let outcome: E.Either<LockError, Lease>
  try {
    const t0 = performance.now()
    outcome = await waiter.acquire(k, 1_000, 100)()
    elapsed = performance.now() - t0
  } finally {
    await send(['CONFIG', 'SET', 'maxclients', '10000'])
  }
  assert.ok(E.isLeft(outcome) && outcome.left._tag === 'Timeout', 'the key stays held')
  assert.ok(elapsed <= 100 + commandTimeoutMs + 150, `acquire with a 100 ms timeout took ${Math.round(elapsed)} ms`)
  await holder.release(held)()
})

/**
 * `keepAlive` (src/KeepAlive.ts, `lock.extend(current, current.ttlMs)`) renews
 * with the TTL of the lease it was started on, and knows nothing of an
 * extend the holder made of the same lease meanwhile: its next renewal
 * resets the key's TTL from the holder's 5 s back to 300 ms. The lease the
 * holder's extend answered still says 5 s; after `stop()` (which hands back
 * the keeper's lease, not the holder's) the key expires at the keeper's
 * horizon and another client takes it while the extended lease is believed.
 */
S('a renewal never shortens a lease the holder extended: the extended lease stays backed by the server', async () => {
  const k = freshKey()
  const lock = makeLock(redisStore((await connect()).driver))
  const other = makeLock(redisStore((await connect()).driver))
  const lease = leaseOf(await lock.acquire(k, 300, 0)())
  const keeper = keepAlive(lock, lease)
  const extended = leaseOf(await lock.extend(keeper.current(), 5_000)())
  await sleep(150) // the keeper renews once (at a third of 300 ms), with 300 ms
  await keeper.stop()
  await sleep(450)
  const pttl = Number(await send(['PTTL', k]))
  const intruder = await other.tryAcquire(k, 60_000)()
  const taken = E.isRight(intruder) && O.isSome(intruder.right) ? intruder.right.value : undefined
  await (taken === undefined ? lock.release(extended)() : other.release(taken)())
  const believed = extended.validUntil - performance.now()
  assert.ok(believed > 4_000, 'the holder still believes its extended lease')
  assert.ok(taken === undefined, `another client took the key (the server's PTTL was ${pttl}) while the extended lease is believed valid for ${Math.round(believed)} ms more`)
})

S.run()
