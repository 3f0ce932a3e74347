import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { memoryStore, MemoryStore } from '../adapters/memory.js'
import { VirtualClock } from '../src/Clock.js'
import { defaultRetryStatus, nextRetryStatus } from '../src/RetryPolicy.js'
import { Environment, randomToken } from '../src/Environment.js'
import { LockError, driverFailure, invalidArgument } from '../src/LockError.js'
import type { Grant, Store } from '../src/Store.js'
import { Backend, LockComponent, componentRetryPolicy } from '../src/compat/LockComponent.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import { GenericOptions, genericOptionSpecs, option, optionsDecoder } from '../src/config/options.js'
import { Flag } from '../src/config/codecs.js'
import type { ComponentSettings } from '../src/config/settings.js'
import { sleep, thrown } from './support/expect.js'

/** Counts the store calls, and can make release fail like a dropped connection. */
interface Spy extends Store {
  readonly calls: { acquire: number; release: number }
  failRelease: boolean
  /** Delays the reply of a release that the store has already applied. */
  releaseReplyDelayMs: number
  /** Delays the reply of an acquire that the store has already applied. */
  acquireReplyDelayMs: number
  /** Releases never answer (a server that stopped responding). */
  hangRelease: boolean
}
const spy = (inner: MemoryStore): Spy => {
  const s: Spy = {
    name: 'spy',
    calls: { acquire: 0, release: 0 },
    failRelease: false,
    releaseReplyDelayMs: 0,
    acquireReplyDelayMs: 0,
    hangRelease: false,
    checkKey: inner.checkKey,
    checkTtl: inner.checkTtl,
    acquire: (key, token, ttlMs) => {
      s.calls.acquire++
      const delay = s.acquireReplyDelayMs
      return delay === 0
        ? inner.acquire(key, token, ttlMs)
        : TE.chainFirst((_: O.Option<Grant>) => TE.rightTask<LockError, void>(() => sleep(delay)))(inner.acquire(key, token, ttlMs))
    },
    release: (held): TE.TaskEither<LockError, boolean> => {
      s.calls.release++
      if (s.failRelease) return TE.left(driverFailure(held.key, new Error('connection reset'), true))
      if (s.hangRelease) return () => new Promise(() => undefined)
      const delay = s.releaseReplyDelayMs
      return delay === 0
        ? inner.release(held)
        : TE.chainFirst((_: boolean) => TE.rightTask<LockError, void>(() => sleep(delay)))(inner.release(held))
    },
    extend: inner.extend
  }
  return s
}

type TestOptions = GenericOptions & { readonly strict: boolean }
const decodeTestOptions = optionsDecoder({ ...genericOptionSpecs, strict: option('strict', Flag, false) })

type Connect = (settings: ComponentSettings<TestOptions>, traceId: string | undefined) => Promise<E.Either<LockError, Backend>>

/** A lock component over a shared memory store; records what `connect` received. */
class MemoryLock extends LockComponent<TestOptions> {
  readonly connected: Array<{ settings: ComponentSettings<TestOptions>; traceId: string | undefined }> = []
  closedBackends = 0
  constructor(
    readonly store: Spy,
    private readonly connectWith?: Connect,
    env?: Environment
  ) {
    super(env)
  }
  protected decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, TestOptions> {
    return decodeTestOptions(params)
  }
  protected async connect(settings: ComponentSettings<TestOptions>, traceId: string | undefined): Promise<E.Either<LockError, Backend>> {
    this.connected.push({ settings, traceId })
    if (this.connectWith !== undefined) return this.connectWith(settings, traceId)
    return E.right({
      store: this.store,
      close: async () => {
        this.closedBackends++
      }
    })
  }
}


const LOCAL = ConfigParams.fromTuples('host', 'localhost', 'port', 6379)

const opened = async (config: ConfigParams = LOCAL, store: Spy = spy(memoryStore())): Promise<MemoryLock> => {
  const lock = new MemoryLock(store)
  lock.configure(config)
  await lock.open(null)
  return lock
}

const F = suite('LockComponent: the original fixture on the memory backend')
let fixture: MemoryLock

F.before(async () => {
  fixture = await opened()
})
F.after(async () => {
  await fixture.close(null)
})

F('tryAcquireLock (lock_1)', async () => {
  assert.ok(await fixture.tryAcquireLock(null, 'lock_1', 3000))
  assert.not.ok(await fixture.tryAcquireLock(null, 'lock_1', 3000))
  await fixture.releaseLock(null, 'lock_1')
  assert.ok(await fixture.tryAcquireLock(null, 'lock_1', 3000))
  await fixture.releaseLock(null, 'lock_1')
})

F('acquireLock with a timeout (lock_2): the second call fails on timeout, after waiting it', async () => {
  await fixture.acquireLock(null, 'lock_2', 3000, 1000)
  const t0 = performance.now()
  const e = await thrown(() => fixture.acquireLock('123', 'lock_2', 3000, 1000))
  const waited = performance.now() - t0
  assert.is(e.code, 'LOCK_TIMEOUT')
  assert.match(e.message, /^Acquiring lock lock_2 failed on timeout \([1-9][0-9]* attempts? in [0-9]+ ms\)$/)
  assert.is(e.traceId, '123')
  assert.ok(waited >= 990 && waited < 1500, `waited ${waited} ms`)
  await fixture.releaseLock(null, 'lock_2')
  await fixture.acquireLock(null, 'lock_2', 3000, 1000)
  await fixture.releaseLock(null, 'lock_2')
})

F('releaseLock twice (lock_3) does not throw', async () => {
  assert.ok(await fixture.tryAcquireLock(null, 'lock_3', 3000))
  await fixture.releaseLock(null, 'lock_3')
  await fixture.releaseLock(null, 'lock_3')
  assert.ok(await fixture.tryAcquireLock(null, 'lock_3', 3000), 'lock_3 was released')
  await fixture.releaseLock(null, 'lock_3')
})

F.run()

const L = suite('LockComponent: lifecycle')

L('NOT_OPENED before open, with the trace id; lock() is Left', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure(LOCAL)
  assert.not.ok(lock.isOpen())
  for (const call of [
    () => lock.tryAcquireLock('t1', 'k', 1000),
    () => lock.acquireLock('t1', 'k', 1000, 0),
    () => lock.releaseLock('t1', 'k')
  ]) {
    const e = await thrown(call)
    assert.is(e.code, 'NOT_OPENED')
    assert.is(e.message, 'Connection is not opened')
    assert.is(e.traceId, 't1')
  }
  assert.equal(lock.lock(), E.left({ _tag: 'NotOpened' }))
  assert.is(lock.store.calls.acquire, 0)
})

L('open connects once with the decoded settings and the trace id; opening again is a no-op', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure({ connection: { host: 'h', port: '7000' }, credential: { username: 'u', password: 'p' }, options: { strict: 'true' } })
  await Promise.all([lock.open('t1'), lock.open('t2')])
  await lock.open('t3')
  assert.ok(lock.isOpen())
  assert.is(lock.connected.length, 1)
  assert.equal(lock.connected[0], {
    traceId: 't1',
    settings: {
      connections: [{ host: 'h', port: 7000 }],
      credential: { username: 'u', password: 'p' },
      options: { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, strict: true }
    }
  })
  assert.ok(E.isRight(lock.lock()))
  await lock.close(null)
})

L('NOT_OPENED after close; closing twice is a no-op; the backend is closed once', async () => {
  const lock = await opened()
  await lock.close('c')
  await lock.close('c')
  assert.not.ok(lock.isOpen())
  assert.is(lock.closedBackends, 1)
  const e = await thrown(() => lock.tryAcquireLock({ traceId: 'after' }, 'k', 1000))
  assert.is(e.code, 'NOT_OPENED')
  assert.is(e.traceId, 'after')
  assert.ok(E.isLeft(lock.lock()))
})

L('closing a component that was never opened does nothing', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  await lock.close(null)
  assert.is(lock.closedBackends, 0)
})

L('it can be opened again after close', async () => {
  const lock = await opened()
  await lock.close(null)
  await lock.open(null)
  assert.ok(await lock.tryAcquireLock(null, 'reopen', 1000))
  await lock.close(null)
  assert.is(lock.connected.length, 2)
})

L('NO_CONNECTION when nothing is configured, with the trace id', async () => {
  for (const config of [undefined, {}, ConfigParams.fromTuples('options.retries', 1, 'connection.protocol', 'redis')]) {
    const lock = new MemoryLock(spy(memoryStore()))
    if (config !== undefined) lock.configure(config)
    const e = await thrown(() => lock.open('123'))
    assert.is(e.code, 'NO_CONNECTION')
    assert.is(e.message, 'Connection is not configured')
    assert.is(e.traceId, '123')
    assert.not.ok(lock.isOpen())
    assert.is(lock.connected.length, 0)
  }
})

L('configure: INVALID_CONFIG naming every bad key and value; the previous configuration stays', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure(LOCAL)
  const e = await thrown(() =>
    lock.configure(ConfigParams.fromTuples('connection.port', 'abc', 'options.retry_timeout', '-5', 'options.strict', 'maybe'))
  )
  assert.is(e.code, 'INVALID_CONFIG')
  assert.is(
    e.message,
    'Invalid configuration: connection.port: expected an integer in 1..65535, got "abc"; ' +
      'options.retry_timeout: expected a whole number of milliseconds in 0..2147483647, got "-5"; ' +
      'options.strict: expected a boolean ("true" or "false"), got "maybe"'
  )
  await lock.open(null)
  assert.equal(lock.connected[0]?.settings.connections, [{ host: 'localhost', port: 6379 }])
  await lock.close(null)
})

L('configure accepts a Pip.Services-style ConfigParams instance', async () => {
  class PipConfigParams {
    [key: string]: unknown
    constructor(values: Record<string, string>) {
      Object.assign(this, values)
    }
  }
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure(new PipConfigParams({ 'connections.b.host': 'b', 'connections.a.host': 'a', 'connections.a.port': '11211' }))
  await lock.open(null)
  assert.equal(lock.connected[0]?.settings.connections, [{ host: 'a', port: 11211 }, { host: 'b' }])
  await lock.close(null)
})

L('a backend error from connect is thrown with its code and the trace id; not open', async () => {
  const lock = new MemoryLock(spy(memoryStore()), async () => E.left(driverFailure('', new Error('ECONNREFUSED'), false)))
  lock.configure(LOCAL)
  const e = await thrown(() => lock.open({ traceId: 'o1' }))
  assert.is(e.code, 'DRIVER_FAILURE')
  assert.match(e.message, /ECONNREFUSED/)
  assert.is(e.traceId, 'o1')
  assert.not.ok(lock.isOpen())
})

L('a connect that throws becomes CONNECT_FAILED, not a stray exception', async () => {
  const lock = new MemoryLock(spy(memoryStore()), async () => {
    throw new Error('bad client option')
  })
  lock.configure(LOCAL)
  const e = await thrown(() => lock.open('o2'))
  assert.is(e.code, 'CONNECT_FAILED')
  assert.is(e.message, 'Cannot connect to localhost:6379: bad client option')
  assert.is(e.traceId, 'o2')
})

L('open settles within connect_timeout when connect hangs; a late backend is closed', async () => {
  let finishConnect: (() => void) | undefined
  let lateClosed = 0
  const store = spy(memoryStore())
  const lock = new MemoryLock(
    store,
    () =>
      new Promise((resolve) => {
        finishConnect = () =>
          resolve(
            E.right({
              store,
              close: async () => {
                lateClosed++
              }
            })
          )
      })
  )
  lock.configure(ConfigParams.fromTuples('host', 'h', 'options.connect_timeout', 150))
  const t0 = performance.now()
  const e = await thrown(() => lock.open('slow'))
  const took = performance.now() - t0
  assert.is(e.code, 'CONNECT_FAILED')
  assert.is(e.message, 'Cannot connect to h: open did not complete within 150 ms')
  assert.ok(took >= 140 && took < 1000, `took ${took} ms`)
  assert.not.ok(lock.isOpen())
  finishConnect?.()
  await sleep(10)
  assert.is(lateClosed, 1)
  assert.not.ok(lock.isOpen())
})

L('setReferences with something that is not references: INVALID_CONFIG', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  const e = await thrown(() => lock.setReferences({ discovery: 'redis' } as never))
  assert.is(e.code, 'INVALID_CONFIG')
  assert.match(e.message, /references.discovery: expected a function, got "redis"/)
})

L.run()

const R = suite('LockComponent: references at open')

R('discovery_key and store_key are resolved through setReferences before connect', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  const seen: Array<string | undefined> = []
  lock.configure(ConfigParams.fromTuples('connection.discovery_key', 'locks', 'credential.store_key', 'locks-cred'))
  lock.setReferences({
    discovery: async (key, traceId) => {
      seen.push(traceId)
      return key === 'locks' ? { host: 'found', port: '6390' } as never : undefined
    },
    credentials: async (key, traceId) => {
      seen.push(traceId)
      return key === 'locks-cred' ? { username: 'svc', password: 'pw' } : undefined
    }
  })
  await lock.open('r1')
  assert.equal(seen, ['r1', 'r1'])
  assert.equal(lock.connected[0]?.settings.connections, [{ host: 'found', port: 6390 }])
  assert.equal(lock.connected[0]?.settings.credential, { username: 'svc', password: 'pw' })
  await lock.close(null)
})

R('a Pip.Services references object works the same', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure(ConfigParams.fromTuples('connection.discovery_key', 'locks'))
  const discovery = {
    register: async () => undefined,
    resolveOne: async () => undefined,
    resolveAll: async (_context: unknown, key: string) => (key === 'locks' ? [{ host: 'a' }, { host: 'b' }] : [])
  }
  lock.setReferences({ getAll: () => [discovery] })
  await lock.open(null)
  assert.equal(lock.connected[0]?.settings.connections, [{ host: 'a' }, { host: 'b' }])
  await lock.close(null)
})

R('a discovery key without references: INVALID_CONFIG at open, naming the key', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.configure(ConfigParams.fromTuples('connection.discovery_key', 'locks'))
  const e = await thrown(() => lock.open('r2'))
  assert.is(e.code, 'INVALID_CONFIG')
  assert.is(e.traceId, 'r2')
  assert.match(e.message, /discovery_key "locks": no discovery service is referenced/)
  assert.is(lock.connected.length, 0)
})

R('an unresolved discovery key or store key: INVALID_CONFIG at open, naming the key', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.setReferences({ discovery: async () => undefined, credentials: async () => undefined })
  lock.configure(ConfigParams.fromTuples('connection.discovery_key', 'nope'))
  const e1 = await thrown(() => lock.open(null))
  assert.is(e1.code, 'INVALID_CONFIG')
  assert.match(e1.message, /discovery_key "nope": the discovery service does not know this key/)
  lock.configure(ConfigParams.fromTuples('host', 'h', 'credential.store_key', 'nope'))
  const e2 = await thrown(() => lock.open(null))
  assert.is(e2.code, 'INVALID_CONFIG')
  assert.match(e2.message, /store_key "nope": the credential store does not know this key/)
  assert.is(lock.connected.length, 0)
})

R('a discovery service that never answers: open still settles within connect_timeout', async () => {
  const lock = new MemoryLock(spy(memoryStore()))
  lock.setReferences({ discovery: () => new Promise(() => undefined) })
  lock.configure(ConfigParams.fromTuples('connection.discovery_key', 'k', 'options.connect_timeout', '100'))
  const e = await thrown(() => lock.open(null))
  assert.is(e.code, 'CONNECT_FAILED')
  assert.is(e.message, 'Cannot connect to discovery_key "k": open did not complete within 100 ms')
})

R.run()

const O1 = suite('LockComponent: operations')

O1('contexts: a string, an object with traceId, a Pip.Services 4 context, or nothing', async () => {
  const lock = await opened()
  const pipContext = { get: (key: string) => (key === 'trace_id' ? 'pip-4' : undefined) }
  const cases: ReadonlyArray<[Parameters<MemoryLock['tryAcquireLock']>[0], string | undefined]> = [
    ['abc', 'abc'],
    [{ traceId: 'obj' }, 'obj'],
    [pipContext, 'pip-4'],
    [{ get: (key: string) => (key === 'traceId' ? 'camel' : undefined) }, 'camel'],
    ['', undefined],
    [{ traceId: 42 } as never, undefined],
    [null, undefined],
    [undefined, undefined],
    [{}, undefined]
  ]
  for (const [context, traceId] of cases) {
    const e = await thrown(() => lock.tryAcquireLock(context, '', 1000))
    assert.is(e.traceId, traceId)
  }
  await lock.close(null)
})

O1('bad key, ttl or timeout: INVALID_ARGUMENT before any I/O', async () => {
  const lock = await opened()
  const bad: ReadonlyArray<() => Promise<unknown>> = [
    () => lock.tryAcquireLock('a', '', 1000),
    () => lock.tryAcquireLock('a', 'k', 0),
    () => lock.tryAcquireLock('a', 'k', 1.5),
    () => lock.acquireLock('a', 'k', 1000, -1),
    () => lock.acquireLock('a', 'k', -1, 0),
    () => lock.acquireLock('a', 42 as never, 1000, 0),
    () => lock.releaseLock('a', '')
  ]
  for (const call of bad) {
    const e = await thrown(call)
    assert.is(e.code, 'INVALID_ARGUMENT')
    assert.is(e.traceId, 'a')
  }
  assert.equal(lock.store.calls, { acquire: 0, release: 0 })
  await lock.close(null)
})

O1('acquireLock with timeout 0 makes exactly one attempt', async () => {
  const lock = await opened()
  assert.ok(await lock.tryAcquireLock(null, 'once', 5000))
  const before = lock.store.calls.acquire
  const e = await thrown(() => lock.acquireLock(null, 'once', 5000, 0))
  assert.is(e.code, 'LOCK_TIMEOUT')
  assert.is(lock.store.calls.acquire - before, 1)
  await lock.close(null)
})

O1('retry_timeout is honoured: the delay between attempts, with full jitter from the environment', async () => {
  const attemptsWith = async (retryTimeout: number): Promise<number> => {
    // On a virtual clock: the count depends on the policy only, not on how busy the machine is.
    const clock = new VirtualClock()
    const store = spy(memoryStore({ clock }))
    const env: Environment = { clock, random: () => 0.5, token: randomToken }
    const holder = await opened(LOCAL, store)
    const waiter = new MemoryLock(store, undefined, env)
    waiter.configure(ConfigParams.fromTuples('host', 'h', 'options.retry_timeout', retryTimeout))
    await waiter.open(null)
    assert.ok(await holder.tryAcquireLock(null, 'busy', 10_000))
    const before = store.calls.acquire
    const e = await thrown(() => waiter.acquireLock(null, 'busy', 10_000, 600))
    assert.is(e.code, 'LOCK_TIMEOUT')
    const attempts = store.calls.acquire - before
    await holder.close(null)
    await waiter.close(null)
    return attempts
  }
  // random 0.5 → each wait is retry_timeout / 2: 600 ms / 50 ms ≈ 13 attempts; 600 ms / 200 ms ≈ 4.
  const fast = await attemptsWith(100)
  const slow = await attemptsWith(400)
  assert.is(fast, 13, `retry_timeout 100: ${fast} attempts`)
  assert.is(slow, 4, `retry_timeout 400: ${slow} attempts`)
})

O1('componentRetryPolicy: constant retry_timeout with full jitter, never below 1 ms, never stopping', () => {
  const later = nextRetryStatus(nextRetryStatus(defaultRetryStatus, 50), 50)
  assert.equal(componentRetryPolicy(() => 0.5)(100)(defaultRetryStatus), O.some(50))
  assert.equal(componentRetryPolicy(() => 0.5)(100)(later), O.some(50))
  assert.equal(componentRetryPolicy(() => 0.999)(100)(later), O.some(99))
  assert.equal(componentRetryPolicy(() => 0)(100)(later), O.some(1))
  assert.equal(componentRetryPolicy(() => 0.5)(0)(later), O.some(1))
})

O1('a waiting acquireLock with retry_timeout 0 on the memory store does not starve the event loop', async () => {
  const store = spy(memoryStore())
  const holder = await opened(LOCAL, store)
  const waiter = await opened(ConfigParams.fromTuples('host', 'h', 'options.retry_timeout', 0), store)
  assert.ok(await holder.tryAcquireLock(null, 'spin', 10_000))
  let ticks = 0
  const ticker = setInterval(() => ticks++, 10)
  const e = await thrown(() => waiter.acquireLock(null, 'spin', 10_000, 200))
  clearInterval(ticker)
  assert.is(e.code, 'LOCK_TIMEOUT')
  assert.ok(ticks >= 10, `only ${ticks} timer ticks in 200 ms`)
  await holder.close(null)
  await waiter.close(null)
})

O1('acquireLock gets a lock as soon as it is released', async () => {
  const store = spy(memoryStore())
  const a = await opened(LOCAL, store)
  const b = await opened(LOCAL, store)
  await a.acquireLock(null, 'handoff', 10_000, 0)
  setTimeout(() => void a.releaseLock(null, 'handoff'), 150)
  const t0 = performance.now()
  await b.acquireLock(null, 'handoff', 10_000, 2000)
  const waited = performance.now() - t0
  assert.ok(waited >= 140 && waited < 600, `waited ${waited} ms`)
  await a.close(null)
  await b.close(null)
})

O1('two instances never release each other\'s locks', async () => {
  const store = spy(memoryStore())
  const a = await opened(LOCAL, store)
  const b = await opened(LOCAL, store)
  assert.ok(await a.tryAcquireLock(null, 'shared', 10_000))
  await b.releaseLock(null, 'shared')
  assert.not.ok(await b.tryAcquireLock(null, 'shared', 10_000), 'b released a\'s lock')
  await a.releaseLock(null, 'shared')
  assert.ok(await b.tryAcquireLock(null, 'shared', 10_000))
  await a.releaseLock(null, 'shared')
  assert.not.ok(await a.tryAcquireLock(null, 'shared', 10_000), 'a released b\'s lock')
  await a.close(null)
  await b.close(null)
  assert.is(store.calls.release, 1 + 1, 'only holders sent releases (a once, b at close)')
})

O1('a release after our lease expired and someone else took the key is a quiet no-op that leaves them in place', async () => {
  const store = spy(memoryStore())
  const a = await opened(LOCAL, store)
  const b = await opened(LOCAL, store)
  assert.ok(await a.tryAcquireLock(null, 'expiring', 100))
  await sleep(150)
  assert.ok(await b.tryAcquireLock(null, 'expiring', 10_000))
  await a.releaseLock(null, 'expiring')
  assert.not.ok(await a.tryAcquireLock(null, 'expiring', 10_000), 'b lost its lock')
  await a.releaseLock(null, 'expiring')
  await b.releaseLock(null, 'expiring')
  assert.ok(await a.tryAcquireLock(null, 'expiring', 10_000))
  await a.close(null)
  await b.close(null)
})

O1('after a quiet no-op release of a lost lease, the instance forgets it (no further requests)', async () => {
  const store = spy(memoryStore())
  const a = await opened(LOCAL, store)
  assert.ok(await a.tryAcquireLock(null, 'lost', 50))
  await sleep(80)
  await a.releaseLock(null, 'lost')
  assert.is(store.calls.release, 1)
  await a.releaseLock(null, 'lost')
  assert.is(store.calls.release, 1)
  await a.close(null)
  assert.is(store.calls.release, 1)
})

O1('a lease re-acquired while the previous release is in flight is not forgotten', async () => {
  const store = spy(memoryStore())
  const a = await opened(LOCAL, store)
  const b = await opened(LOCAL, store)
  assert.ok(await a.tryAcquireLock(null, 'race', 10_000))
  store.releaseReplyDelayMs = 50
  const releasing = a.releaseLock(null, 'race')
  await sleep(10)
  assert.ok(await a.tryAcquireLock(null, 'race', 10_000), 'the key was freed by the first release')
  await releasing
  store.releaseReplyDelayMs = 0
  await a.releaseLock(null, 'race')
  assert.ok(await b.tryAcquireLock(null, 'race', 10_000), 'the second lease was released')
  await a.close(null)
  await b.close(null)
})

O1('a transport failure on release throws, and the lease is kept so the release can be retried', async () => {
  const lock = await opened()
  assert.ok(await lock.tryAcquireLock(null, 'flaky', 10_000))
  lock.store.failRelease = true
  const e = await thrown(() => lock.releaseLock('rel', 'flaky'))
  assert.is(e.code, 'DRIVER_FAILURE')
  assert.is(e.traceId, 'rel')
  lock.store.failRelease = false
  await lock.releaseLock(null, 'flaky')
  assert.ok(await lock.tryAcquireLock(null, 'flaky', 10_000), 'the retried release freed the key')
  await lock.close(null)
})

O1('close releases what this instance holds, and only that', async () => {
  const inner = memoryStore()
  const store = spy(inner)
  const a = await opened(LOCAL, store)
  const b = await opened(LOCAL, store)
  assert.ok(await a.tryAcquireLock(null, 'x', 10_000))
  assert.ok(await a.tryAcquireLock(null, 'y', 10_000))
  assert.ok(await b.tryAcquireLock(null, 'z', 10_000))
  await a.close(null)
  assert.is(inner.size(), 1)
  assert.not.ok(await b.tryAcquireLock(null, 'z', 10_000))
  assert.ok(await b.tryAcquireLock(null, 'x', 10_000))
  await b.close(null)
  assert.is(inner.size(), 0)
})

O1('close stops a waiting acquireLock with ABORTED', async () => {
  const store = spy(memoryStore())
  const holder = await opened(LOCAL, store)
  const waiter = await opened(LOCAL, store)
  assert.ok(await holder.tryAcquireLock(null, 'held', 10_000))
  const waiting = thrown(() => waiter.acquireLock('w', 'held', 10_000, 5000))
  await sleep(50)
  const t0 = performance.now()
  await waiter.close(null)
  const e = await waiting
  assert.ok(performance.now() - t0 < 500)
  assert.is(e.code, 'ABORTED')
  assert.is(e.traceId, 'w')
  await holder.close(null)
})

O1('close with a failing release still closes the backend', async () => {
  const store = spy(memoryStore())
  const lock = await opened(LOCAL, store)
  assert.ok(await lock.tryAcquireLock(null, 'failing', 10_000))
  store.failRelease = true
  await lock.close(null)
  assert.is(lock.closedBackends, 1)
  assert.not.ok(lock.isOpen())
})

O1('close with a release that never answers waits command_timeout, then closes the backend', async () => {
  const store = spy(memoryStore())
  const lock = await opened(ConfigParams.fromTuples('host', 'h', 'options.command_timeout', 100), store)
  assert.ok(await lock.tryAcquireLock(null, 'stuck', 10_000))
  store.hangRelease = true
  const t0 = performance.now()
  await lock.close(null)
  const took = performance.now() - t0
  assert.ok(took >= 90 && took < 1000, `took ${took} ms`)
  assert.is(lock.closedBackends, 1)
})

O1('a backend whose close fails: DRIVER_FAILURE with the trace id, and the component is closed', async () => {
  const store = spy(memoryStore())
  const lock = new MemoryLock(store, async () =>
    E.right({
      store,
      close: async () => {
        throw new Error('socket already destroyed')
      }
    })
  )
  lock.configure(LOCAL)
  await lock.open(null)
  const e = await thrown(() => lock.close('bye'))
  assert.is(e.code, 'DRIVER_FAILURE')
  assert.is(e.traceId, 'bye')
  assert.is(e.message, 'Lock localhost:6379: request failed: socket already destroyed')
  assert.not.ok(lock.isOpen())
  await lock.close(null)
})

O1('a lock granted after close began is given back at once, and the call throws ABORTED', async () => {
  const inner = memoryStore()
  const store = spy(inner)
  const lock = await opened(LOCAL, store)
  store.acquireReplyDelayMs = 50
  const late = thrown(() => lock.tryAcquireLock('late', 'late-key', 10_000))
  await sleep(10)
  await lock.close(null)
  const e = await late
  assert.is(e.code, 'ABORTED')
  assert.is(e.traceId, 'late')
  await sleep(10)
  assert.is(inner.size(), 0, 'the late lease was released')
})

O1('lock() exposes the functional core on the same store', async () => {
  const lock = await opened()
  const core = lock.lock()
  assert.ok(E.isRight(core))
  const lease = await core.right.tryAcquire('fp', 10_000)()
  assert.ok(E.isRight(lease) && O.isSome(lease.right))
  assert.not.ok(await lock.tryAcquireLock(null, 'fp', 10_000))
  assert.equal(await core.right.release(lease.right.value)(), E.right(undefined))
  await lock.close(null)
})

O1('errors are LockExceptions carrying the LockError', async () => {
  const lock = await opened()
  const e = await thrown(() => lock.tryAcquireLock('x', '', 1000))
  assert.ok(e instanceof Error)
  assert.is(e.error._tag, 'InvalidArgument')
  assert.equal(e.error, invalidArgument('key must be a non-empty string, got ""'))
  await lock.close(null)
})

O1.run()
