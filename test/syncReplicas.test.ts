import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { connectRedis } from '../adapters/node-redis.js'
import { driverError } from '../src/Driver.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import { LockError, code, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { RedisReply, isRefusal, isTryAgain } from '../src/redis/RedisReply.js'
import { RedisDriver, RedisSubscribe, redisStore } from '../src/redis/redisStore.js'
import { acquireOrEnqueueScript, acquireScript, extendScript, pollScript, releaseScript } from '../src/redis/scripts.js'
import { sharedSentinel } from './support/deployments.js'
import { sleep } from './support/expect.js'
import { cli } from './support/redisCli.js'
import type { RedisServer } from './support/redisServer.js'
import type { RedisSentinelDeployment } from './support/redisSentinel.js'

type Result = E.Either<ReturnType<typeof driverError>, RedisReply>

/**
 * A driver that answers script replies from a list and WAIT with `acknowledged`,
 * recording every command it was sent (protocol logic only; the servers come below).
 */
const scripted = (replies: ReadonlyArray<Result>, acknowledged: RedisReply, options: { pipelined: boolean } = { pipelined: true }) => {
  const sent: Array<ReadonlyArray<string>> = []
  let i = 0
  const next = (command: ReadonlyArray<string>): Promise<Result> => {
    sent.push(command)
    if (command[0] === 'WAIT') return Promise.resolve(E.right(acknowledged))
    return Promise.resolve(replies[i++] ?? E.left(driverError(new Error('no more canned replies'), false)))
  }
  const driver: RedisDriver = {
    send: (command) => () => next(command),
    ...(options.pipelined
      ? {
          sendAndWait: (command, replicas, timeoutMs) => async () => {
            const reply = await next(command)
            const waited = await next(['WAIT', String(replicas), String(timeoutMs)])
            return E.isLeft(reply) ? reply : E.isLeft(waited) ? waited : E.right([reply.right, waited.right] as const)
          }
        }
      : {})
  }
  return { driver, sent }
}

const left = <A>(e: E.Either<LockError, A>): LockError => {
  if (E.isRight(e)) throw new Error(`expected a Left, got ${String(e.right)}`)
  return e.left
}

const U = suite('syncReplicas: the protocol (scripted driver)')

U('each script that may take the key is followed by WAIT n timeout; release is not', async () => {
  const { driver, sent } = scripted([E.right('7'), E.right(1), E.right(1)], 1)
  const store = redisStore(driver, { syncReplicas: 1, syncTimeoutMs: 250 })
  assert.equal(await store.acquire('k', 'tok', 1000)(), E.right(O.some({ fence: 7n, validityMs: 1000, revision: '7' })))
  assert.ok(E.isRight(await store.extend({ key: 'k', token: 'tok', revision: '7' }, 1000)()))
  assert.equal(await store.release({ key: 'k', token: 'tok', revision: '7' })(), E.right(true))
  assert.equal(
    sent.map((c) => (c[0] === 'EVALSHA' ? c[1] : c.join(' '))),
    [acquireScript.sha1, 'WAIT 1 250', extendScript.sha1, 'WAIT 1 250', releaseScript.sha1]
  )
})

U('a grant too few replicas acknowledged is given back by its token and answered NotReplicated', async () => {
  const { driver, sent } = scripted([E.right('7'), E.right(1)], 1)
  const r = await redisStore(driver, { syncReplicas: 2 }).acquire('k', 'tok', 1000)()
  assert.equal(left(r), { _tag: 'NotReplicated', key: 'k', required: 2, acknowledged: 1 })
  assert.is(code(left(r)), 'NOT_REPLICATED')
  assert.match(message(left(r)), '1 of the 2 replica(s) required acknowledged')
  assert.equal(sent[2], ['EVALSHA', releaseScript.sha1, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 'tok', '86400000'], 'the release by the token')
})

U('an error reply to WAIT counts as no acknowledgement; a refused acquire sends no release', async () => {
  const wait = new Error('ERR WAIT cannot be used with replica instances')
  const { driver, sent } = scripted([E.right('7'), E.right(1)], wait)
  assert.equal(left(await redisStore(driver, { syncReplicas: 1 }).acquire('k', 'tok', 1000)()), { _tag: 'NotReplicated', key: 'k', required: 1, acknowledged: 0 })
  const held = scripted([E.right(null)], 0)
  assert.equal(await redisStore(held.driver, { syncReplicas: 1 }).acquire('k', 'tok', 1000)(), E.right(O.none), 'a held key is none, whatever WAIT says')
  assert.is(held.sent.length, 2, 'no release')
  assert.is(sent.length, 3)
})

U('an extend too few replicas acknowledged answers NotReplicated and keeps the key: the lease acknowledged before stands', async () => {
  const { driver, sent } = scripted([E.right('3'), E.right(1)], 0)
  assert.equal(left(await redisStore(driver, { syncReplicas: 1 }).extend({ key: 'k', token: 'tok', revision: '3' }, 1000)())._tag, 'NotReplicated')
  assert.equal(sent.map((c) => (c[0] === 'EVALSHA' ? c[1] : c[0])), [extendScript.sha1, 'WAIT'], 'nothing given back')
})

U('the queue scripts (acquireOrEnqueue, poll) are followed by WAIT; a granted poll not acknowledged is given back', async () => {
  const subscribe: RedisSubscribe = () => TE.right(undefined)
  const { driver, sent } = scripted([E.right(null), E.right([0, '4']), E.right([1, '5']), E.right(1)], 0)
  const store = redisStore({ ...driver, subscribe }, { syncReplicas: 1 })
  const queued = await store.queue!.acquireOrEnqueue('k', 'tok', 1000, 5000)()
  assert.equal(queued, E.right({ _tag: 'Waiting', seen: 4n }))
  assert.equal(left(await store.queue!.poll('k', 'tok', 1000, 5000)())._tag, 'NotReplicated')
  assert.equal(
    sent.map((c) => (c[0] === 'EVALSHA' ? c[1] : c[0])),
    [acquireScript.sha1, 'WAIT', acquireOrEnqueueScript.sha1, 'WAIT', pollScript.sha1, 'WAIT', releaseScript.sha1]
  )
})

U('with syncReplicas a handover notification proves nothing by itself: it comes with validity 0, so the waiter claims it first', async () => {
  let deliver: (message: string) => void = () => undefined
  const subscribe: RedisSubscribe = (_channel, onMessage) => {
    deliver = onMessage
    return TE.right(undefined)
  }
  for (const [syncReplicas, validity] of [
    [1, 0],
    [0, 800]
  ] as const) {
    const { driver } = scripted([E.right(null), E.right([0, '4'])], 1)
    const store = redisStore({ ...driver, subscribe }, { syncReplicas, claimMs: 800 })
    await store.queue!.acquireOrEnqueue('k', 'tok', 1000, 5000)()
    const handed = store.queue!.awaitHandoff('k', 'tok', 1000, 4n)
    deliver('5 800 tok')
    const grant = await handed
    assert.ok(O.isSome(grant) && grant.value.fence === 5n && grant.value.validityMs === validity, `syncReplicas ${syncReplicas}: validity ${validity}`)
  }
})

U('without sendAndWait the store sends WAIT after the script with send; NOSCRIPT is retried with EVAL and WAIT again', async () => {
  const { driver, sent } = scripted([E.right(new Error('NOSCRIPT No matching script')), E.right('9')], 1, { pipelined: false })
  assert.ok(E.isRight(await redisStore(driver, { syncReplicas: 1, syncTimeoutMs: 40 }).acquire('k', 'tok', 1000)()))
  assert.equal(sent.map((c) => c[0]), ['EVALSHA', 'WAIT', 'EVAL', 'WAIT'])
  assert.equal(sent[1], ['WAIT', '1', '40'])
})

U('bad syncReplicas or syncTimeoutMs: every call is InvalidArgument before any I/O', async () => {
  for (const options of [{ syncReplicas: -1 }, { syncReplicas: 1.5 }, { syncReplicas: Number.NaN }, { syncTimeoutMs: 0 }, { syncTimeoutMs: 2 ** 31 }]) {
    const { driver, sent } = scripted([], 1)
    const lock = makeLock(redisStore(driver, options))
    const e = left(await lock.acquire('k', 1000, 0)())
    assert.is(e._tag, 'InvalidArgument', JSON.stringify(options))
    assert.match(message(e), Object.keys(options)[0]!)
    assert.is(sent.length, 0)
  }
})

U('isTryAgain and isRefusal: error replies after which the command certainly did not run', () => {
  assert.ok(isTryAgain(new Error('CLUSTERDOWN Hash slot not served')))
  assert.ok(isTryAgain(new Error('TRYAGAIN Multiple keys request during rehashing of slot')))
  assert.ok(!isTryAgain(new Error('MOVED 3999 127.0.0.1:6381')))
  assert.ok(!isTryAgain('TRYAGAIN'))
  for (const text of ['MOVED 1 h:1', 'ASK 1 h:1', 'READONLY You can\'t write against a read only replica.', 'LOADING', 'MASTERDOWN', 'BUSY', 'NOSCRIPT x'])
    assert.ok(isRefusal(new Error(text)), text)
  for (const text of ['ERR x', 'WRONGTYPE x', 'OOM command not allowed', 'NOPERM x', 'Moved']) assert.not.ok(isRefusal(new Error(text)), text)
})

U('a refusal to run a script that takes the key is determinate; other error replies to it stay indeterminate', async () => {
  const refused = left(await redisStore(scripted([E.right(new Error('READONLY You can\'t write against a read only replica.'))], 1).driver).acquire('k', 't', 100)())
  assert.ok(refused._tag === 'DriverFailure' && !refused.indeterminate)
  const oom = left(await redisStore(scripted([E.right(new Error('OOM command not allowed'))], 1).driver).acquire('k', 't', 100)())
  assert.ok(oom._tag === 'DriverFailure' && oom.indeterminate)
})

const R = suite('syncReplicas on a real primary with a replica (the Sentinel deployment\'s, through connectRedis)')
let deployment: RedisSentinelDeployment
let primary: RedisServer
let replica: RedisServer
const connections: Array<RedisConnection> = []
const SYNC_MS = 150

const connect = async (): Promise<RedisConnection> => {
  const c = await connectRedis({ host: primary.host, port: primary.port, connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
  if (E.isLeft(c)) throw new Error(message(c.left))
  connections.push(c.right)
  return c.right
}

/** Freezes the replica for the duration of `f`, then thaws it and waits for it to catch up. */
const whileReplicaFrozen = async <A>(f: () => Promise<A>): Promise<A> => {
  replica.pause()
  try {
    return await f()
  } finally {
    replica.resume()
    await deployment.healthy()
  }
}

R.before(async () => {
  deployment = await sharedSentinel()
  primary = await deployment.primary()
  replica = await deployment.replica()
})
R.after(async () => {
  await Promise.all(connections.map((c) => c.close()))
})

R('an acknowledged grant is on the replica when the lease is answered', async () => {
  const lock = makeLock(redisStore((await connect()).driver, { syncReplicas: 1, syncTimeoutMs: 1_000 }))
  for (let i = 0; i < 20; i++) {
    const key = `sync-${randomToken()}`
    const lease = await lock.acquire(key, 10_000, 0)()
    if (E.isLeft(lease)) throw new Error(message(lease.left))
    assert.is(await cli(replica.port, 'GET', key), lease.right.token, 'the replica already has the key')
    assert.is(await cli(replica.port, 'GET', `{${key}}:fence`), String(lease.right.fence), 'and its fencing counter')
  }
})

R('replica frozen (SIGSTOP): acquire fails with NOT_REPLICATED within the sync timeout and leaves no key; the extend of a held lease fails with NOT_REPLICATED too, and keeps the key', async () => {
  const lock = makeLock(redisStore((await connect()).driver, { syncReplicas: 1, syncTimeoutMs: SYNC_MS }))
  const held = `sync-held-${randomToken()}`
  const lease = await lock.acquire(held, 10_000, 0)()
  if (E.isLeft(lease)) throw new Error(message(lease.left))
  await whileReplicaFrozen(async () => {
    const key = `sync-frozen-${randomToken()}`
    const t0 = performance.now()
    const r = await lock.acquire(key, 10_000, 0)()
    const ms = performance.now() - t0
    assert.equal(left(r), { _tag: 'NotReplicated', key, required: 1, acknowledged: 0 })
    assert.ok(ms >= SYNC_MS - 10 && ms < SYNC_MS + 500, `answered after the sync timeout: ${ms.toFixed(0)} ms`)
    assert.is(await cli(primary.port, 'EXISTS', key), 0, 'no key left behind')
    const extended = await lock.extend(lease.right, 10_000)()
    assert.is(left(extended)._tag, 'NotReplicated')
    assert.is(await cli(primary.port, 'EXISTS', held), 1, 'the unacknowledged extend keeps the key: the lease acknowledged before still stands')
  })
  const again = await lock.acquire(`sync-thawed-${randomToken()}`, 10_000, 0)()
  assert.ok(E.isRight(again), 'acknowledged again once the replica is back')
})

R('replica frozen: a waiter handed the key claims it before answering; the claim is not acknowledged, so the waiter gets NOT_REPLICATED and the key is not left on its token', async () => {
  const holder = makeLock(redisStore((await connect()).driver))
  const waiter = makeLock(redisStore((await connect()).driver, { syncReplicas: 1, syncTimeoutMs: SYNC_MS }), { retry: constantDelay(10_000) })
  const key = `sync-handover-${randomToken()}`
  const lease = await holder.acquire(key, 10_000, 0)()
  if (E.isLeft(lease)) throw new Error(message(lease.left))
  const waiting = waiter.acquire(key, 10_000, 5_000)()
  for (let i = 0; i < 200 && Number(await cli(primary.port, 'ZCARD', `{${key}}:queue`)) === 0; i++) await sleep(5)
  await whileReplicaFrozen(async () => {
    const released = await holder.release(lease.right)()
    assert.ok(E.isRight(released))
    const r = await waiting
    assert.is(left(r)._tag, 'NotReplicated')
    assert.is(await cli(primary.port, 'EXISTS', key), 0, 'the handed-over key was given back, not left to its claim TTL')
  })
})

R('a script sent to a replica is refused (READONLY) before it writes anything: a determinate DRIVER_FAILURE', async () => {
  const c = await connectRedis({ host: replica.host, port: replica.port, connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
  if (E.isLeft(c)) throw new Error(message(c.left))
  connections.push(c.right)
  const key = `sync-readonly-${randomToken()}`
  const e = left(await redisStore(c.right.driver).acquire(key, 'tok', 1000)())
  assert.ok(e._tag === 'DriverFailure' && !e.indeterminate, 'determinate')
  assert.match(message(e), 'READONLY')
  assert.is(await cli(primary.port, 'EXISTS', key), 0)
})

R('syncReplicas above the replicas there are: never acknowledged', async () => {
  const lock = makeLock(redisStore((await connect()).driver, { syncReplicas: 2, syncTimeoutMs: 50 }))
  const r = await lock.acquire(`sync-two-${randomToken()}`, 10_000, 0)()
  assert.equal(left(r)._tag, 'NotReplicated')
  assert.ok(left(r)._tag === 'NotReplicated' && (left(r) as { acknowledged: number }).acknowledged === 1)
})

U.run()
R.run()
