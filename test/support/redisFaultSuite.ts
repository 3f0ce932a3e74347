import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { RedisLock } from '../../adapters/redis.js'
import { connectRedis } from '../../adapters/node-redis.js'
import type { RedisConnectOptions } from '../../src/redis/RedisConnection.js'
import { randomToken } from '../../src/Environment.js'
import { Lock, makeLock } from '../../src/Lock.js'
import { LockError, LockException, code, message } from '../../src/LockError.js'
import type { RedisConnection } from '../../src/redis/RedisConnection.js'
import type { RedisReply } from '../../src/redis/RedisReply.js'
import { redisStore } from '../../src/redis/redisStore.js'
import { freePort } from './freePort.js'
import { RedisServer, startRedis } from './redisServer.js'
import { sleep, thrown } from './expect.js'
import { COMMAND_MS, CONNECT_MS, SLACK, driverFailed, freeze, right, timed, until } from './faults.js'

/** Connects a driver to one server, as `connectRedis` does for node-redis. */
export type ConnectClient = (options: RedisConnectOptions) => TE.TaskEither<LockError, RedisConnection>

/**
 * Server faults (killed, frozen, dropped connections) against the lock core
 * over a driver, and — with `classApi` — against `RedisLock`, which connects
 * with node-redis.
 */
export const redisFaultSuite = (name: string, connectClient: ConnectClient, classApi: boolean): void => {
  const figures: Array<string> = []
  const note = (line: string): void => {
    figures.push(line)
  }

  let server: RedisServer
  let conn: RedisConnection
  let control: RedisConnection
  let lock: Lock
  let component: RedisLock | undefined
  const key = (what: string): string => `faults:${what}:${randomToken()}`

  const configured = (port: number, extra: Record<string, unknown> = {}): RedisLock => {
    const c = new RedisLock()
    c.configure({
      connection: { host: '127.0.0.1', port },
      options: { connect_timeout: CONNECT_MS, command_timeout: COMMAND_MS, retry_timeout: 20, ...extra }
    })
    return c
  }

  const connectTo = async (port: number, commandTimeoutMs = COMMAND_MS): Promise<RedisConnection> =>
    right(await connectClient({ host: '127.0.0.1', port, connectTimeoutMs: CONNECT_MS, commandTimeoutMs })(), 'connect')

  const send = async (c: RedisConnection, command: ReadonlyArray<string>): Promise<RedisReply> => {
    const r = await c.driver.send(command)()
    if (E.isLeft(r)) throw new Error(`${command.join(' ')}: ${String(r.left.cause)}`)
    return r.right
  }

  const S = suite(`faults on a real redis-server, ${name}`)

  S.before(async () => {
    server = await startRedis()
    conn = await connectTo(server.port)
    lock = makeLock(redisStore(conn.driver))
    if (classApi) {
      component = configured(server.port)
      await component.open('faults')
    }
  })
  S.after(async () => {
    server?.resume()
    await component?.close('faults').catch(() => undefined)
    await conn?.close()
    await control?.close()
    await server?.stop()
    if (figures.length > 0) console.log(`\n    redis fault figures (${name}):\n${figures.map((f) => `      ${f}`).join('\n')}`)
  })

  S('server killed while a lock is held: release, extend and acquire fail promptly; after a restart on the same port the same objects work again, and the lock is lost', async () => {
    const held = key('killed')
    const lease = right(await lock.acquire(held, 10_000, 0)(), 'acquire')
    const classKey = key('killed-class')
    await component?.acquireLock('t1', classKey, 10_000, 0)

    await server.kill()

    const [released, releaseMs] = await timed(() => lock.release(lease)())
    driverFailed(released, 'release')
    assert.ok(releaseMs < COMMAND_MS + SLACK, `release failed after ${releaseMs} ms`)
    const [extended, extendMs] = await timed(() => lock.extend(lease, 10_000)())
    driverFailed(extended, 'extend')
    assert.ok(extendMs < COMMAND_MS + SLACK, `extend failed after ${extendMs} ms`)
    const [acquired, acquireMs] = await timed(() => lock.acquire(key('outage'), 10_000, 300)())
    const e = driverFailed(acquired, 'acquire during the outage')
    assert.ok(acquireMs < 300 + COMMAND_MS + SLACK, `acquire failed after ${acquireMs} ms`)
    assert.match(message(e), /^Lock faults:outage:\S+: request failed: /, 'the message names the key and says the request failed')

    note(`killed: release ${releaseMs.toFixed(0)} ms, extend ${extendMs.toFixed(0)} ms, acquire(timeout 300) ${acquireMs.toFixed(0)} ms`)
    if (component !== undefined) {
      const c = component
      const classRelease = await thrown(() => c.releaseLock('t2', classKey))
      assert.is(classRelease.code, 'DRIVER_FAILURE')
      assert.is(classRelease.traceId, 't2')
      const [classAcquire, classAcquireMs] = await timed(() => thrown(() => c.acquireLock('t3', key('outage-class'), 10_000, 300)))
      assert.is(classAcquire.code, 'DRIVER_FAILURE')
      assert.ok(classAcquireMs < 300 + COMMAND_MS + SLACK, `acquireLock failed after ${classAcquireMs} ms`)
      note(`killed: acquireLock(timeout 300) ${classAcquireMs.toFixed(0)} ms`)
    }

    await server.restart()
    const [, coreBackMs] = await until(5000, () => lock.tryAcquire(key('back'), 1000)())
    note(`restart: the same connection works again after ${coreBackMs.toFixed(0)} ms`)
    if (component !== undefined) {
      const c = component
      const [, classBackMs] = await until(5000, () =>
        c.tryAcquireLock('t4', key('back-class'), 1000).then(
          (ok) => (ok ? E.right(ok) : E.left('held')),
          (err: unknown) => E.left(err)
        )
      )
      note(`restart: the same component works again after ${classBackMs.toFixed(0)} ms`)
    }

    // Not promised: the server lost its data, so the lock is gone while its lease still looks valid.
    assert.ok(performance.now() < lease.validUntil, 'the lease has not expired by its own account')
    const rival = right(await lock.tryAcquire(held, 10_000)(), 'rival acquire after the restart')
    assert.ok(O.isSome(rival), 'a restart without persistence loses the lock: someone else takes the key')
    const stale = await lock.release(lease)()
    assert.ok(E.isLeft(stale) && stale.left._tag === 'NotHeld', 'and the old holder learns it at its next release or extend')
    if (component !== undefined) {
      await component.releaseLock('t5', classKey)
      assert.ok(await component.tryAcquireLock('t6', classKey, 1000), 'a failed releaseLock kept its lease for a retry, which is now a quiet no-op')
    }
  })

  S('server frozen (SIGSTOP): every call returns an indeterminate DriverFailure within its deadline; after SIGCONT everything works', async () => {
    const held = key('frozen')
    const lease = right(await lock.acquire(held, 10_000, 0)(), 'acquire')
    const classKey = key('frozen-class')
    await component?.acquireLock('t1', classKey, 10_000, 0)
    const ghost = key('frozen-ghost')
    const before = right(await lock.tryAcquire(ghost, 1500)(), 'a first grant on the ghost key, to know its counter')
    assert.ok(O.isSome(before))
    right(await lock.release(before.value)(), 'released')

    await freeze(server)
    try {
      const calls: ReadonlyArray<[string, number, () => Promise<E.Either<LockError, unknown>>]> = [
        ['release', COMMAND_MS, () => lock.release(lease)()],
        ['extend', COMMAND_MS, () => lock.extend(lease, 10_000)()],
        ['tryAcquire', COMMAND_MS, () => lock.tryAcquire(ghost, 1500)()],
        ['acquire (timeout 0)', COMMAND_MS, () => lock.acquire(key('frozen-once'), 10_000, 0)()],
        ['acquire (timeout 100)', 100 + COMMAND_MS, () => lock.acquire(key('frozen-acquire'), 10_000, 100)()],
        ['withLock (timeout 100)', 100 + COMMAND_MS, () => lock.withLock(key('frozen-with'), 10_000, { timeoutMs: 100 }, () => async () => E.right(1))()]
      ]
      const results = await Promise.all(calls.map(([, , f]) => timed(f)))
      results.forEach(([r, ms], i) => {
        const [what, deadline] = calls[i]!
        driverFailed(r, what, true)
        assert.ok(ms < deadline + SLACK, `${what} returned after ${ms} ms`)
      })
      note(`frozen: ${results.map(([, ms], i) => `${calls[i]![0]} ${ms.toFixed(0)} ms`).join(', ')}`)

      const c = component
      const classCalls: ReadonlyArray<[string, () => Promise<unknown>]> =
        c === undefined
          ? []
          : [
              ['releaseLock', () => c.releaseLock('t2', classKey)],
              ['tryAcquireLock', () => c.tryAcquireLock('t3', key('frozen-try'), 1500)],
              ['acquireLock (timeout 100)', () => c.acquireLock('t4', key('frozen-acq'), 10_000, 100)]
            ]
      const thrownAll = await Promise.all(classCalls.map(([, f]) => timed(() => thrown(f))))
      thrownAll.forEach(([err, ms], i) => {
        const what = classCalls[i]![0]
        assert.is(err.code, 'DRIVER_FAILURE', what)
        assert.ok(err.error._tag === 'DriverFailure' && err.error.indeterminate, `${what}: indeterminate`)
        assert.ok(ms < 100 + COMMAND_MS + SLACK, `${what} threw after ${ms} ms`)
      })
    } finally {
      server.resume()
    }

    const [, backMs] = await until(3000, () => lock.tryAcquire(key('thawed'), 1000)())
    note(`frozen: works again ${backMs.toFixed(0)} ms after SIGCONT`)
    const again = right(await lock.acquire(key('thawed-cycle'), 10_000, 1000)(), 'acquire after SIGCONT')
    right(await lock.release(again)(), 'release after SIGCONT')
    if (component !== undefined) assert.ok(await component.tryAcquireLock('t5', key('thawed-class'), 1000))
    // "Indeterminate" is meant: the commands were written and ran once the server woke up. The
    // tryAcquire that timed out took its key then (the next fence), and the give-back the lock sent after it,
    // on the same connection, freed it at once instead of leaving it held for its TTL.
    const other = right(await lock.tryAcquire(ghost, 1500)(), 'rival on the ghost key')
    assert.ok(O.isSome(other), 'the key a timed-out tryAcquire may have taken was given back')
    assert.is(O.isSome(other) && other.value.fence, before.value.fence + 2n, 'the timed-out tryAcquire did take the key (the fence after the first) before it was given back')
    const stale = await lock.release(lease)()
    assert.ok(E.isLeft(stale) && stale.left._tag === 'NotHeld', 'the release that timed out did release')
  })

  if (classApi) S('close while the server is frozen is bounded by the command timeout, and leaves the component closed', async () => {
    const c = configured(server.port)
    await c.open('t1')
    await c.acquireLock('t1', key('close-frozen'), 10_000, 0)
    await freeze(server)
    try {
      const [, ms] = await timed(() => c.close('t2'))
      assert.ok(ms < 2 * COMMAND_MS + SLACK, `close took ${ms} ms`)
      note(`close with a held lock on a frozen server: ${ms.toFixed(0)} ms`)
      assert.not.ok(c.isOpen())
      assert.is((await thrown(() => c.tryAcquireLock('t3', 'k', 1000))).code, 'NOT_OPENED')
    } finally {
      server.resume()
    }
  })

  if (classApi) S('nothing listening at open: a clear CONNECT_FAILED within connect_timeout, from the class and from connectRedis', async () => {
    const port = await freePort()
    const c = configured(port)
    const [e, ms] = await timed(() => thrown(() => c.open('t1')))
    assert.is(e.code, 'CONNECT_FAILED')
    assert.is(e.traceId, 't1')
    assert.match(e.message, `Cannot connect to 127.0.0.1:${port}`)
    assert.match(e.message, 'ECONNREFUSED')
    assert.ok(ms < CONNECT_MS + SLACK, `open failed after ${ms} ms`)
    assert.not.ok(c.isOpen())

    const unbounded = configured(port, { retries: 1_000_000 })
    const [e2, ms2] = await timed(() => thrown(() => unbounded.open('t2')))
    assert.is(e2.code, 'CONNECT_FAILED')
    assert.ok(ms2 >= CONNECT_MS - 50 && ms2 < CONNECT_MS + SLACK, `with endless retries, open failed at the deadline: ${ms2} ms`)

    const [r, ms3] = await timed(() => connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 300 })())
    assert.ok(E.isLeft(r) && code(r.left) === 'CONNECT_FAILED')
    assert.ok(ms3 < 300 + SLACK, `connectRedis failed after ${ms3} ms`)
    note(`nothing listening: open ${ms.toFixed(0)} ms (retries 3), ${ms2.toFixed(0)} ms (connect_timeout ${CONNECT_MS}), connectRedis ${ms3.toFixed(0)} ms (300)`)
  })

  if (classApi) S('a frozen server at open: the handshake never answers, open fails at connect_timeout', async () => {
    const frozen = await startRedis()
    await freeze(frozen)
    try {
      const c = configured(frozen.port)
      const [e, ms] = await timed(() => thrown(() => c.open('t1')))
      assert.is(e.code, 'CONNECT_FAILED')
      assert.ok(ms >= CONNECT_MS - 50 && ms < CONNECT_MS + SLACK, `open failed after ${ms} ms`)
      note(`frozen server at open: ${ms.toFixed(0)} ms`)
    } finally {
      await frozen.stop()
    }
  })

  S('connection dropped mid-request (CLIENT KILL while the command waits in a CLIENT PAUSE): the in-flight call settles at once with an indeterminate failure; the same objects recover', async () => {
    control = await connectTo(server.port)
    const slow = await connectTo(server.port, 3000)
    const slowLock = makeLock(redisStore(slow.driver))
    const c = classApi ? configured(server.port, { command_timeout: 3000 }) : undefined
    await c?.open('t1')
    try {
      assert.is(await send(control, ['CLIENT', 'PAUSE', '5000', 'WRITE']), 'OK')
      const t0 = performance.now()
      const inFlight = slowLock.tryAcquire(key('dropped'), 10_000)().then((r) => [r, performance.now() - t0] as const)
      const classInFlight = c?.acquireLock('t2', key('dropped-class'), 10_000, 0).then(
        () => [undefined, performance.now() - t0] as const,
        (err: unknown) => [err, performance.now() - t0] as const
      )
      await sleep(100)
      const killed = await send(control, ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'])
      assert.ok(typeof killed === 'number' && killed >= 2, `killed ${String(killed)} connections`)
      const [r, ms] = await inFlight
      driverFailed(r, 'the in-flight tryAcquire', true)
      assert.ok(ms < 1000, `settled after ${ms} ms: by the dropped connection, not by the 3 s deadline`)
      note(`dropped mid-request: tryAcquire settled ${ms.toFixed(0)} ms after the call (kill at ~100 ms, deadline 3000)`)
      if (classInFlight !== undefined) {
        const [err, classMs] = await classInFlight
        assert.ok(err instanceof LockException && err.code === 'DRIVER_FAILURE', `acquireLock threw ${String(err)}`)
        assert.ok(classMs < 1000, `acquireLock settled after ${classMs} ms`)
        note(`dropped mid-request: acquireLock settled ${classMs.toFixed(0)} ms after the call`)
      }
      assert.is(await send(control, ['CLIENT', 'UNPAUSE']), 'OK')
      const [, backMs] = await until(3000, () => slowLock.tryAcquire(key('dropped-back'), 1000)())
      if (c !== undefined)
        await until(3000, () =>
          c.tryAcquireLock('t3', key('dropped-back-class'), 1000).then(
            (ok) => (ok ? E.right(ok) : E.left('held')),
            (e: unknown) => E.left(e)
          )
        )
      note(`dropped mid-request: reconnected after ${backMs.toFixed(0)} ms`)
    } finally {
      await control.driver.send(['CLIENT', 'UNPAUSE'])()
      await c?.close('t4')
      await slow.close()
    }
  })
  S.run()
}
