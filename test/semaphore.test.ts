import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { VirtualClock } from '../src/Clock.js'
import { Environment, randomToken } from '../src/Environment.js'
import { LeaseLostError } from '../src/KeepAlive.js'
import { LockError, code, driverFailure } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import { MAX_PERMITS, Permit } from '../src/permits/Permits.js'
import type { PermitStore } from '../src/permits/PermitStore.js'
import { makeReadWriteLock } from '../src/permits/ReadWriteLock.js'
import { makeSemaphore } from '../src/permits/Semaphore.js'
import { memoryPermitStore } from '../adapters/memoryPermits.js'
import { simulation } from './support/model.js'

const setup = () => {
  const clock = new VirtualClock(1_000)
  let n = 0
  const env: Environment = { clock, random: () => 0.5, token: () => `token-${n++}` }
  const base = memoryPermitStore({ clock })
  const calls: string[] = []
  const store: PermitStore = {
    ...base,
    acquire: (r) => (calls.push('acquire'), base.acquire(r)),
    release: (h) => (calls.push('release'), base.release(h)),
    extend: (h, ttl) => (calls.push('extend'), base.extend(h, ttl))
  }
  const options = { env, retry: constantDelay(100) }
  return { clock, env, base, calls, semaphore: makeSemaphore(store, options), rw: makeReadWriteLock(store, options) }
}
const leftTag = (e: E.Either<LockError, unknown>): string => (E.isLeft(e) ? e.left._tag : 'Right')
const permitOf = (r: E.Either<LockError, Permit>): Permit => {
  if (E.isLeft(r)) throw new Error(`expected a permit, got ${r.left._tag}`)
  return r.right
}

test('semaphore: at most `limit` permits on a key, each with its own token and a larger fence; a release frees one', async () => {
  const { semaphore, base } = setup()
  const a = permitOf(await semaphore.acquire('k', 2, 1_000, 0)())
  const b = permitOf(await semaphore.acquire('k', 2, 1_000, 0)())
  const c = await semaphore.tryAcquire('k', 2, 1_000)()
  assert.ok(E.isRight(c) && O.isNone(c.right))
  assert.is.not(a.token, b.token)
  assert.ok(b.fence > a.fence)
  assert.is(base.holders('k').length, 2)
  assert.ok(E.isRight(await semaphore.release(a)()))
  const d = await semaphore.tryAcquire('k', 2, 1_000)()
  assert.ok(E.isRight(d) && O.isSome(d.right) && d.right.value.fence > b.fence)
})

test('bad input is an InvalidArgument before any I/O: key, limit, TTL, timeout, permit', async () => {
  const { semaphore, rw, calls } = setup()
  const bad: Array<() => Promise<E.Either<LockError, unknown>>> = [
    semaphore.tryAcquire('', 2, 1_000),
    semaphore.tryAcquire('k', 0, 1_000),
    semaphore.tryAcquire('k', 1.5, 1_000),
    semaphore.tryAcquire('k', MAX_PERMITS + 1, 1_000),
    semaphore.tryAcquire('k', 2, 2),
    semaphore.acquire('k', 2, 1_000, -1),
    semaphore.acquire('k', Number.NaN, 1_000, 10),
    semaphore.acquire(42 as unknown as string, 2, 1_000, 10),
    semaphore.withPermit('k', 'three' as unknown as number, 1_000, { timeoutMs: 0 }, () => TE.right(1)),
    semaphore.release(undefined as unknown as Permit),
    semaphore.extend({ key: '' } as Permit, 1_000),
    semaphore.extend({ key: 'k', token: 't' } as Permit, 0),
    rw.acquireRead('', 1_000, 0),
    rw.tryAcquireWrite('k', -5)
  ]
  for (const run of bad) {
    const r = await run()
    assert.is(leftTag(r), 'InvalidArgument')
    assert.is(code((r as E.Left<LockError>).left), 'INVALID_ARGUMENT')
  }
  assert.equal(calls, [], 'nothing was sent')
})

test('acquire waits its turn and times out with LOCK_TIMEOUT, the attempts it made and the time it waited; it leaves the queue', async () => {
  const { semaphore, base, clock, calls } = setup()
  await semaphore.acquire('k', 1, 10_000, 0)()
  calls.length = 0
  const start = clock.now()
  const r = await semaphore.acquire('k', 1, 10_000, 450)()
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout')
  if (E.isLeft(r) && r.left._tag === 'Timeout') {
    // At 0, 100, 200, 300, 400 and 450 (the last wait cut to the deadline).
    assert.is(r.left.attempts, 6)
    assert.is(calls.filter((c) => c === 'acquire').length, 6)
    assert.is(r.left.waitedMs, clock.now() - start)
    assert.ok(r.left.waitedMs >= 450)
    assert.is(code(r.left), 'LOCK_TIMEOUT')
  }
  assert.equal(base.queued('k'), [], 'the waiter left the queue')
})

test('acquire answers Aborted at once when its signal aborts, and leaves the queue', async () => {
  const { semaphore, base } = setup()
  await semaphore.acquire('k', 1, 10_000, 0)()
  const controller = new AbortController()
  const waiting = semaphore.acquire('k', 1, 10_000, 60_000, { signal: controller.signal })()
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(base.queued('k').length, 1)
  controller.abort('shutting down')
  const r = await waiting
  assert.ok(E.isLeft(r) && r.left._tag === 'Aborted' && r.left.reason === 'shutting down')
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(base.queued('k'), [])
})

test('release and extend of an expired permit are NotHeld; extend keeps the fence and moves the expiry', async () => {
  const { semaphore, clock } = setup()
  const p = permitOf(await semaphore.acquire('k', 3, 1_000, 0)())
  const extended = await semaphore.extend(p, 5_000)()
  assert.ok(E.isRight(extended) && extended.right.fence === p.fence && extended.right.validUntil > p.validUntil)
  clock.advance(5_001)
  assert.is(leftTag(await semaphore.extend(p, 1_000)()), 'NotHeld')
  assert.is(leftTag(await semaphore.release(p)()), 'NotHeld')
})

test('a dead holder\'s permit frees after its TTL: a waiter gets it then, not before', async () => {
  const { semaphore, clock } = setup()
  await semaphore.acquire('k', 1, 700, 0)()
  const start = clock.now()
  const p = permitOf(await semaphore.acquire('k', 1, 1_000, 5_000)())
  const waited = clock.now() - start
  assert.ok(waited >= 700 && waited <= 800, `waited ${waited} ms`)
  assert.is(p.key, 'k')
})

test('limits that disagree: the smallest limit among the caller\'s and the live permits\' applies to new permits', async () => {
  const { semaphore } = setup()
  permitOf(await semaphore.acquire('k', 2, 1_000, 0)())
  const larger = await semaphore.tryAcquire('k', 5, 1_000)()
  assert.ok(E.isRight(larger) && O.isSome(larger.right), 'a larger limit admits while the holders\' limit (2) has room')
  const more = await semaphore.tryAcquire('k', 5, 1_000)()
  assert.ok(E.isRight(more) && O.isNone(more.right), 'the holders\' limit 2 applies to a caller asking 5')
  const one = await semaphore.tryAcquire('q', 1, 1_000)()
  const smaller = await semaphore.tryAcquire('q', 3, 1_000)()
  assert.ok(E.isRight(one) && O.isSome(one.right) && E.isRight(smaller) && O.isNone(smaller.right), 'a holder under limit 1 keeps callers asking 3 out')
})

test('read-write lock: many readers together, a writer alone; a waiting writer blocks later readers (no writer starvation)', async () => {
  const { rw, base } = setup()
  const r1 = permitOf(await rw.acquireRead('doc', 1_000, 0)())
  const r2 = permitOf(await rw.acquireRead('doc', 1_000, 0)())
  const w = await rw.tryAcquireWrite('doc', 1_000)()
  assert.ok(E.isRight(w) && O.isNone(w.right))
  const writer = rw.acquireWrite('doc', 1_000, 5_000)()
  await new Promise((resolve) => setImmediate(resolve))
  const late = await rw.tryAcquireRead('doc', 1_000)()
  assert.ok(E.isRight(late) && O.isNone(late.right), 'a reader arriving after a waiting writer waits')
  await rw.release(r1)()
  await rw.release(r2)()
  const wr = permitOf(await writer)
  assert.is(wr.weight, MAX_PERMITS)
  assert.ok(wr.fence > r2.fence)
  assert.equal(base.holders('doc').map((h) => h.token), [wr.token])
})

test('withWrite: the lost-permit signal fires with LeaseLostError when the permit is taken away, and the release says NotHeld', async () => {
  const { rw, base, clock } = setup()
  const r = await rw.withWrite('doc', 300, { timeoutMs: 0 }, (p, signal) => async () => {
    // Someone removes the permit from the store behind our back.
    await base.release({ key: p.key, token: p.token, revision: '' })()
    while (!signal.aborted && clock.now() < 10_000) await clock.sleep(10)
    return E.right(signal.reason)
  })()
  assert.ok(E.isLeft(r) && r.left._tag === 'NotHeld')
})

test('withPermit renews the permit while use runs past its TTL, and releases it after', async () => {
  const { clock, run } = simulation()
  const base = memoryPermitStore({ clock })
  const semaphore = makeSemaphore(base, { env: { clock, random: () => 0.5, token: randomToken } })
  const r = await run(
    semaphore.withPermit('k', 2, 300, { timeoutMs: 0 }, (p, signal) => async () => {
      await clock.sleep(1_000)
      return E.right({ aborted: signal.aborted, held: base.holders('k').some((h) => h.token === p.token) })
    })()
  )
  assert.equal(r, E.right({ aborted: false, held: true }))
  assert.equal(base.holders('k'), [])
})

test('a request whose reply is lost is given back by its token; its failure is answered as it came', async () => {
  const clock = new VirtualClock()
  const base = memoryPermitStore({ clock })
  const store: PermitStore = {
    ...base,
    acquire: (request) => async () => {
      await base.acquire(request)()
      return E.left(driverFailure(request.key, new Error('reply lost'), true))
    }
  }
  const semaphore = makeSemaphore(store, { env: { clock, random: () => 0.5, token: () => 'tok' } })
  const r = await semaphore.tryAcquire('k', 1, 1_000)()
  assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.indeterminate)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(base.holders('k'), [], 'the permit the lost reply granted was given back')
})

test('LeaseLostError is what the signal carries when a renewal is refused', async () => {
  const { semaphore, base } = setup()
  let reason: unknown
  await semaphore.withPermit('k', 1, 300, { timeoutMs: 0 }, (p, signal) => async () => {
    await base.release({ key: p.key, token: p.token, revision: '' })()
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    reason = signal.reason
    return E.right(undefined)
  })()
  assert.ok(reason instanceof LeaseLostError && reason.why === 'refused')
})

test('a release wakes the waiters: the first is admitted at once, not at its next poll (and at its next poll when the store has no wake-ups)', async () => {
  for (const woken of [true, false]) {
    const { clock, run } = simulation()
    const base = memoryPermitStore({ clock })
    const store: PermitStore = woken ? base : { name: base.name, checkKey: base.checkKey, checkTtl: base.checkTtl, acquire: base.acquire, release: base.release, extend: base.extend }
    const semaphore = makeSemaphore(store, { env: { clock, random: () => 0.5, token: randomToken }, retry: constantDelay(1_000) })
    const holder = permitOf(await semaphore.acquire('k', 1, 10_000, 0)())
    void clock.sleep(100).then(() => semaphore.release(holder)())
    const waiter = permitOf(await run(semaphore.acquire('k', 1, 10_000, 5_000)()))
    assert.is(clock.now() - waiter.acquiredAt < 1 ? waiter.acquiredAt : -1, woken ? 100 : 1_000, woken ? 'woken' : 'polling')
  }
})

test.run()
