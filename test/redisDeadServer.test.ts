/**
 * A dead Redis node costs little: while the connection is down, calls fail at
 * once from the driver's state (a determinate DriverFailure whose cause, a
 * RedisServerDownError, says when the node is next tried), without a socket
 * per call; reconnection attempts back off with jitter up to RECONNECT_MAX_MS,
 * and the lock works again within one backoff step of the node coming back.
 * The node is a real redis-server, killed and restarted on the same port;
 * connection attempts are counted where the node would see them (a loopback
 * proxy in front of it) and where the client makes them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { RECONNECT_MAX_MS, RedisServerDownError, connectRedis, reconnectDelay, redisStore } from '../adapters/redis.js'
import { makeLock } from '../src/Lock.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { info } from './support/redisCli.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { TcpProxy, startTcpProxy } from './support/tcpProxy.js'
import { unhandled } from './support/noUnhandled.js'
import { sleep } from './support/expect.js'
import { connectsDuring } from './support/connects.js'

const S = suite('node-redis: a dead node is backed off')

let server: RedisServer | undefined
let proxy: TcpProxy | undefined
let connection: RedisConnection | undefined
S.after.each(async () => {
  await connection?.close()
  await proxy?.close()
  await server?.stop()
  connection = undefined
  proxy = undefined
  server = undefined
})

interface Call {
  readonly ms: number
  readonly cause: unknown
  readonly indeterminate: boolean
}

/** Tries the lock every millisecond for `forMs`, recording how long each call took and why it failed. */
const callsDuring = async (lock: ReturnType<typeof makeLock>, forMs: number): Promise<ReadonlyArray<Call>> => {
  const calls: Call[] = []
  const until = performance.now() + forMs
  while (performance.now() < until) {
    const t0 = performance.now()
    const r = await lock.tryAcquire('dead:key', 10_000)()
    const ms = performance.now() - t0
    if (E.isRight(r)) throw new Error('acquired on a dead node')
    calls.push(r.left._tag === 'DriverFailure' ? { ms, cause: r.left.cause, indeterminate: r.left.indeterminate } : { ms, cause: r.left, indeterminate: true })
    await sleep(1)
  }
  return calls
}

/** How long after `since` the lock is acquired and released again (polled every 5 ms, for at most `withinMs`). */
const recovery = async (lock: ReturnType<typeof makeLock>, since: number, withinMs: number): Promise<number> => {
  while (performance.now() - since < withinMs) {
    const r = await lock.tryAcquire('dead:key', 10_000)()
    if (E.isRight(r) && O.isSome(r.right)) {
      assert.ok(E.isRight(await lock.release(r.right.value)()), 'released after recovery')
      return performance.now() - since
    }
    await sleep(5)
  }
  return Number.POSITIVE_INFINITY
}

const outageAndRecovery = async (through: 'direct' | 'proxy'): Promise<void> => {
  const unhandledBefore = unhandled().length
  server = await startRedis()
  proxy = through === 'proxy' ? await startTcpProxy(server.port) : undefined
  const connected = await connectRedis({ host: '127.0.0.1', port: proxy?.port ?? server.port, connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 })()
  assert.ok(E.isRight(connected))
  connection = connected.right
  const lock = makeLock(redisStore(connection.driver))
  const first = await lock.tryAcquire('dead:key', 10_000)()
  assert.ok(E.isRight(first) && O.isSome(first.right) && E.isRight(await lock.release(first.right.value)()), 'works before the outage')

  await server.kill()
  const acceptedBefore = proxy?.accepted() ?? 0
  // Long enough for the backoff to reach its cap: 25-50, 50-100, ..., 500-1000 ms.
  const { result: calls, connects } = await connectsDuring(() => callsDuring(lock, 2_500), proxy?.port ?? server.port)
  const accepted = (proxy?.accepted() ?? 0) - acceptedBefore
  const down = calls.filter((c) => c.cause instanceof RedisServerDownError)
  assert.ok(calls.length > 300, `${calls.length} calls in 2.5 s, each answered`)
  assert.ok(down.length >= calls.length * 0.95, `${down.length} of ${calls.length} answered as RedisServerDownError`)
  assert.ok(down.every((c) => !c.indeterminate), 'determinate: nothing was sent')
  const slowest = Math.max(...calls.map((c) => c.ms))
  // At once: far below the 1 s command deadline that a queued or sent command would run into (the margin is for a loaded machine).
  assert.ok(slowest < 200, `every call answered at once (slowest ${slowest.toFixed(1)} ms)`)
  const retryIns = down.map((c) => (c.cause as RedisServerDownError).retryInMs)
  assert.ok(retryIns.every((ms) => ms >= 0 && ms <= RECONNECT_MAX_MS), 'each says when the next attempt starts, within the cap')
  assert.ok(retryIns.some((ms) => ms > 0), 'and some are waiting for it')
  assert.match((down[down.length - 1]?.cause as Error).message, /is down \(.+\): next try in \d+ ms/)
  // Steps of 25-50, 50-100, ..., 500-1000 ms: 5 to 9 attempts in 2.5 s.
  const attempts = through === 'proxy' ? accepted : connects
  assert.ok(attempts >= 4 && attempts <= 10, `${attempts} connection attempts seen for ${calls.length} calls (one per backoff step)`)
  if (through === 'proxy') assert.ok(connects >= accepted && connects <= accepted + 1, `each attempt the node side saw (${accepted}) is one the client made (${connects})`)

  await server.restart()
  const back = performance.now()
  const tookMs = await recovery(lock, back, RECONNECT_MAX_MS + 1_000)
  assert.ok(tookMs <= RECONNECT_MAX_MS + 400, `works again ${tookMs.toFixed(0)} ms after the node returned (one backoff step: <= ${RECONNECT_MAX_MS} ms)`)
  const seen = Number((await info(server.port, 'stats')).get('total_connections_received'))
  // redis-cli's own connection, the restart's PING probe, and the client's one reconnection.
  assert.ok(seen <= 4, `${seen} connections received by the restarted node`)
  assert.is(unhandled().length, unhandledBefore, 'no unhandled rejection')
}

S('a node that refuses connections: calls fail at once, typed and determinate, one connection attempt per backoff step; recovery within one step', async () => {
  await outageAndRecovery('direct')
})

S('a node behind a proxy that accepts and drops: the node side sees one connection per backoff step; recovery within one step', async () => {
  await outageAndRecovery('proxy')
})

S('reconnectDelay doubles from 50 ms to the cap, with half of each step drawn at random', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 7, 30].map((n) => reconnectDelay(n, () => 0)), [25, 50, 100, 200, 400, 500, 500, 500])
  assert.equal([1, 2, 6, 99].map((n) => reconnectDelay(n, () => 1)), [50, 100, 1_000, RECONNECT_MAX_MS])
  const draws = new Set(Array.from({ length: 20 }, (_, i) => reconnectDelay(8, () => i / 20)))
  assert.is(draws.size, 20, 'different draws, different delays (jitter)')
})

S('the injected randomness sets the waits: draws of 0 wait half of each step, draws near 1 all of it', async () => {
  server = await startRedis()
  const port = server.port
  const open = async (random: () => number): Promise<RedisConnection> => {
    const c = await connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2_000 }, { random })()
    assert.ok(E.isRight(c))
    return c.right
  }
  const low = await open(() => 0)
  const high = await open(() => 0.999)
  try {
    await server.kill()
    const announced = async (c: RedisConnection): Promise<number> => {
      const calls = await callsDuring(makeLock(redisStore(c.driver)), 2_000)
      return Math.max(...calls.flatMap((x) => (x.cause instanceof RedisServerDownError ? [x.cause.retryInMs] : [])))
    }
    const [lowest, highest] = await Promise.all([announced(low), announced(high)])
    // The steps' ceilings reach the 1000 ms cap within 2 s: half of it with draws of 0, nearly all of it with 0.999.
    assert.ok(lowest <= RECONNECT_MAX_MS / 2, `draws of 0: longest announced wait ${lowest.toFixed(0)} ms`)
    assert.ok(highest > RECONNECT_MAX_MS * 0.9, `draws of 0.999: longest announced wait ${highest.toFixed(0)} ms`)
  } finally {
    await Promise.all([low.close(), high.close()])
  }
})

S.run()
