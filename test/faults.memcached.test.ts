import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { MemcachedLock } from '../adapters/memcached.js'
import { connectMemcached } from '../adapters/memjs.js'
import { randomToken } from '../src/Environment.js'
import { Lock, makeLock } from '../src/Lock.js'
import { LockError, LockException, code, message } from '../src/LockError.js'
import type { MemcachedConnection } from '../src/memcached/MemcachedConnection.js'
import { memcachedStore } from '../src/memcached/memcachedStore.js'
import { Status, getRequest } from '../src/memcached/protocol.js'
import { freePort } from './support/freePort.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import './support/noUnhandled.js'
import { sleep, thrown } from './support/expect.js'
import { COMMAND_MS, CONNECT_MS, SLACK, driverFailed, freeze, right, timed, until } from './support/faults.js'

/** Waits up to `ms` for `key` to be absent from the server, as a raw GET on `via` tells; false if it is still there. */
const goneWithin = async (via: MemcachedConnection, key: string, ms: number): Promise<boolean> => {
  const t0 = performance.now()
  for (;;) {
    const got = await via.driver.send(getRequest(key))()
    if (E.isRight(got) && got.right.status === Status.KeyNotFound) return true
    if (performance.now() - t0 > ms) return false
    await sleep(20)
  }
}

const classTry = (c: MemcachedLock, key: string): Promise<E.Either<unknown, true>> =>
  c.tryAcquireLock('retry', key, 5000).then(
    (ok): E.Either<unknown, true> => (ok ? E.right(true) : E.left('held')),
    (e: unknown) => E.left(e)
  )

const figures: Array<string> = []
const note = (line: string): void => {
  figures.push(line)
}

let server: MemcachedServer
let conn: MemcachedConnection
let lock: Lock
let component: MemcachedLock
const key = (what: string): string => `faults:${what}:${randomToken()}`

const configured = (port: number, extra: Record<string, unknown> = {}): MemcachedLock => {
  const c = new MemcachedLock()
  c.configure({
    connection: { host: '127.0.0.1', port },
    options: { connect_timeout: CONNECT_MS, command_timeout: COMMAND_MS, retry_timeout: 20, ...extra }
  })
  return c
}

const connectTo = async (port: number, commandTimeoutMs = COMMAND_MS): Promise<MemcachedConnection> =>
  right(
    await connectMemcached({ servers: [{ host: '127.0.0.1', port }], connectTimeoutMs: CONNECT_MS, commandTimeoutMs })(),
    'connect'
  )

const S = suite('faults on a real memcached')

S.before(async () => {
  server = await startMemcached()
  conn = await connectTo(server.port)
  lock = makeLock(memcachedStore(conn.driver))
  component = configured(server.port)
  await component.open('faults')
})
S.after(async () => {
  server?.resume()
  await component?.close('faults').catch(() => undefined)
  await conn?.close()
  await server?.stop()
  if (figures.length > 0) console.log(`\n    memcached fault figures:\n${figures.map((f) => `      ${f}`).join('\n')}`)
})

S('server killed while a lock is held: release, extend and acquire fail promptly; after a restart on the same port the same objects work again, and the lock is lost', async () => {
  const held = key('killed')
  const lease = right(await lock.acquire(held, 10_000, 0)(), 'acquire')
  const classKey = key('killed-class')
  await component.acquireLock('t1', classKey, 10_000, 0)

  await server.kill()

  const [released, releaseMs] = await timed(() => lock.release(lease)())
  driverFailed(released, 'release')
  assert.ok(releaseMs < COMMAND_MS + SLACK, `release failed after ${releaseMs} ms`)
  const [extended, extendMs] = await timed(() => lock.extend(lease, 10_000)())
  driverFailed(extended, 'extend')
  assert.ok(extendMs < COMMAND_MS + SLACK, `extend failed after ${extendMs} ms`)
  const [acquired, acquireMs] = await timed(() => lock.acquire(key('outage'), 10_000, 300)())
  const e = driverFailed(acquired, 'acquire during the outage', false)
  assert.ok(acquireMs < 300 + COMMAND_MS + SLACK, `acquire failed after ${acquireMs} ms`)
  assert.match(message(e), /^Lock faults:outage:\S+: request failed: .*ECONNREFUSED/, 'the message names the key and the cause')

  const classRelease = await thrown(() => component.releaseLock('t2', classKey))
  assert.is(classRelease.code, 'DRIVER_FAILURE')
  assert.is(classRelease.traceId, 't2')
  const [classAcquire, classAcquireMs] = await timed(() => thrown(() => component.acquireLock('t3', key('outage-class'), 10_000, 300)))
  assert.is(classAcquire.code, 'DRIVER_FAILURE')
  assert.ok(classAcquireMs < 300 + COMMAND_MS + SLACK, `acquireLock failed after ${classAcquireMs} ms`)
  note(`killed: release ${releaseMs.toFixed(0)} ms, extend ${extendMs.toFixed(0)} ms, acquire(timeout 300) ${acquireMs.toFixed(0)} ms, acquireLock(timeout 300) ${classAcquireMs.toFixed(0)} ms`)

  await server.restart()
  const [, coreBackMs] = await until(5000, () => lock.tryAcquire(key('back'), 1000)())
  const [, classBackMs] = await until(5000, () => classTry(component, key('back-class')))
  note(`restart: the same connection works again after ${coreBackMs.toFixed(0)} ms, the same component after ${classBackMs.toFixed(0)} ms`)

  // Not promised: memcached keeps items in memory only, so the lock is gone while its lease still looks valid.
  assert.ok(performance.now() < lease.validUntil, 'the lease has not expired by its own account')
  const rival = right(await lock.tryAcquire(held, 10_000)(), 'rival acquire after the restart')
  assert.ok(O.isSome(rival), 'a restart loses the lock: someone else takes the key')
  const stale = await lock.release(lease)()
  assert.ok(E.isLeft(stale) && stale.left._tag === 'NotHeld', 'the old holder learns it at its next release or extend')
  await component.releaseLock('t5', classKey)
  assert.ok(await component.tryAcquireLock('t6', classKey, 1000), 'a failed releaseLock kept its lease for a retry, which is now a quiet no-op')
})

S('server frozen (SIGSTOP): every call returns an indeterminate DriverFailure within its deadline; after SIGCONT everything works', async () => {
  const held = key('frozen')
  const lease = right(await lock.acquire(held, 10_000, 0)(), 'acquire')
  const classKey = key('frozen-class')
  await component.acquireLock('t1', classKey, 10_000, 0)

  await freeze(server)
  try {
    const calls: ReadonlyArray<[string, number, () => Promise<E.Either<LockError, unknown>>]> = [
      ['release', COMMAND_MS, () => lock.release(lease)()],
      ['extend', COMMAND_MS, () => lock.extend(lease, 10_000)()],
      ['tryAcquire', COMMAND_MS, () => lock.tryAcquire(key('frozen-try'), 3000)()],
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

    const classCalls: ReadonlyArray<[string, () => Promise<unknown>]> = [
      ['releaseLock', () => component.releaseLock('t2', classKey)],
      ['tryAcquireLock', () => component.tryAcquireLock('t3', key('frozen-try-class'), 3000)],
      ['acquireLock (timeout 100)', () => component.acquireLock('t4', key('frozen-acq'), 10_000, 100)]
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

  // The timed-out releases were written before the deadline reset their connection: memcached
  // reads them once it runs again, and deletes both items (long before their 10 s TTL). They
  // were applied, so "indeterminate" was the true report; the extend after the release finds
  // no item to rewrite.
  assert.ok(await goneWithin(conn, held, 1000), 'the timed-out release deleted the item once the server ran again')
  assert.ok(await goneWithin(conn, classKey, 1000), 'so did the timed-out releaseLock')
  const [, backMs] = await until(3000, () => lock.tryAcquire(key('thawed'), 1000)())
  note(`frozen: works again ${backMs.toFixed(0)} ms after SIGCONT`)
  const again = right(await lock.acquire(key('thawed-cycle'), 10_000, 1000)(), 'acquire after SIGCONT')
  right(await lock.release(again)(), 'release after SIGCONT')
  await until(3000, () => classTry(component, key('thawed-class')))
  const outcome = await lock.release(lease)()
  assert.ok(E.isLeft(outcome) && outcome.left._tag === 'NotHeld', 'releasing again reports NotHeld: the timed-out release had done it')
  await component.releaseLock('t5', classKey)
  assert.ok(await component.tryAcquireLock('t6', classKey, 1000), 'the key of the timed-out releaseLock is free')
})

S('close while the server is frozen is bounded by the command timeout, and leaves the component closed; its timed-out release lands once the server runs again', async () => {
  const c = configured(server.port)
  await c.open('t1')
  const closing = key('close-frozen')
  await c.acquireLock('t1', closing, 10_000, 0)
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
  assert.ok(await goneWithin(conn, closing, 1000), 'the release close sent before its deadline deleted the item (10 s TTL)')
})

S('nothing listening at open: a clear CONNECT_FAILED within connect_timeout, from the class and from connectMemcached', async () => {
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
  assert.ok(ms2 >= CONNECT_MS - 150 && ms2 < CONNECT_MS + SLACK, `with endless retries, open failed at the deadline: ${ms2} ms`)

  const [r, ms3] = await timed(() => connectMemcached({ servers: [{ host: '127.0.0.1', port }], connectTimeoutMs: 300 })())
  assert.ok(E.isLeft(r) && code(r.left) === 'CONNECT_FAILED', E.isLeft(r) ? message(r.left) : 'connected')
  assert.ok(ms3 < 300 + SLACK, `connectMemcached failed after ${ms3} ms`)
  note(`nothing listening: open ${ms.toFixed(0)} ms (retries 3), ${ms2.toFixed(0)} ms (connect_timeout ${CONNECT_MS}), connectMemcached ${ms3.toFixed(0)} ms (300)`)
})

S('a frozen server at open: the check never answers, open fails at connect_timeout', async () => {
  const frozen = await startMemcached()
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

S('connection dropped mid-request (the server restarts while requests wait on it): the in-flight calls settle with an error; the same objects recover', async () => {
  const slow = await connectTo(server.port, 3000)
  const slowLock = makeLock(memcachedStore(slow.driver))
  const c = configured(server.port, { command_timeout: 3000 })
  await c.open('t1')
  try {
    await freeze(server)
    const t0 = performance.now()
    const inFlight = slowLock.tryAcquire(key('dropped'), 10_000)().then((r) => [r, performance.now() - t0] as const)
    const classInFlight = c.acquireLock('t2', key('dropped-class'), 10_000, 0).then(
      () => [undefined, performance.now() - t0] as const,
      (err: unknown) => [err, performance.now() - t0] as const
    )
    await sleep(100)
    await server.restart()
    const [r, ms] = await inFlight
    driverFailed(r, 'the in-flight tryAcquire', true)
    assert.ok(ms < 3000 + SLACK, `settled after ${ms} ms`)
    const [err, classMs] = await classInFlight
    assert.ok(err instanceof LockException && err.code === 'DRIVER_FAILURE', `acquireLock threw ${String(err)}`)
    assert.ok(classMs < 3000 + SLACK, `acquireLock settled after ${classMs} ms`)
    note(`dropped mid-request: tryAcquire settled ${ms.toFixed(0)} ms, acquireLock ${classMs.toFixed(0)} ms after the call (restart at ~100 ms, deadline 3000)`)
    const [, backMs] = await until(3000, () => slowLock.tryAcquire(key('dropped-back'), 1000)())
    await until(3000, () => classTry(c, key('dropped-back-class')))
    note(`dropped mid-request: the same connection works again after ${backMs.toFixed(0)} ms`)
  } finally {
    server.resume()
    await c.close('t4')
    await slow.close()
  }
})

S.run()
