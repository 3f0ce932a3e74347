import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { VirtualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { driftMs } from '../src/Lease.js'
import { Lock, makeLock } from '../src/Lock.js'
import { LockError, driverFailure } from '../src/LockError.js'
import { constantDelay, limitRetries, RetryPolicyMonoid } from '../src/RetryPolicy.js'
import { MemoryStore, memoryStore } from '../adapters/memory.js'
import { InstrumentedStore, instrument } from './support/stores.js'

interface Setup {
  readonly clock: VirtualClock
  readonly env: Environment
  readonly store: InstrumentedStore<MemoryStore>
  readonly lock: Lock
}
const setup = (): Setup => {
  const clock = new VirtualClock(1_000)
  let n = 0
  const env: Environment = { clock, random: () => 0.5, token: () => `token-${n++}` }
  const store = instrument(memoryStore({ clock, handoff: false }))
  return { clock, env, store, lock: makeLock(store, { env, retry: constantDelay(100) }) }
}
const leftTag = (e: E.Either<LockError, unknown>): string => (E.isLeft(e) ? e.left._tag : 'Right')
const lease = async (lock: Lock, key = 'k', ttl = 1_000) => {
  const r = await lock.acquire(key, ttl, 0)()
  if (E.isLeft(r)) throw new Error(`acquire failed: ${r.left._tag}`)
  return r.right
}

test('tryAcquire: some on a free key, none on a held key; each lease has its own token', async () => {
  const { lock, clock } = setup()
  const first = await lock.tryAcquire('k', 3_000)()
  const second = await lock.tryAcquire('k', 3_000)()
  assert.ok(E.isRight(first) && O.isSome(first.right))
  assert.equal(second, E.right(O.none))
  const l = (first as any).right.value
  assert.is(l.acquiredAt, clock.now())
  assert.is(l.validUntil, l.acquiredAt + 3_000 - driftMs(3_000))
  assert.is(l.ttlMs, 3_000)
  const other = await lease(lock, 'other')
  assert.is.not(other.token, l.token)
})

test('acquire with timeout 0 makes exactly one attempt', async () => {
  const { lock, store } = setup()
  await lease(lock)
  store.calls.acquire = 0
  const r = await lock.acquire('k', 1_000, 0)()
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout' && r.left.attempts === 1 && r.left.waitedMs === 0)
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout' && r.left.holder !== undefined && r.left.holder.remainingMs! > 0 && r.left.holder.waiters === 0, 'one read tells who holds it')
  assert.is(store.calls.acquire, 1)
})

test('acquire waits for the holder to expire, on the injected clock', async () => {
  const { lock, clock } = setup()
  await lease(lock, 'k', 1_000)
  const t0 = clock.now()
  const r = await lock.acquire('k', 1_000, 5_000)()
  assert.ok(E.isRight(r))
  assert.ok(clock.now() - t0 >= 1_000 && clock.now() - t0 <= 1_100, `waited ${clock.now() - t0}`)
})

test('acquire gives up at its deadline with a Timeout (LOCK_TIMEOUT) naming the attempts', async () => {
  const { lock, clock, store } = setup()
  await lease(lock, 'k', 60_000)
  store.calls.acquire = 0
  const t0 = clock.now()
  const r = await lock.acquire('k', 1_000, 450)()
  assert.is(clock.now() - t0, 450, 'the last sleep is cut to the deadline')
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout' && r.left.attempts === 6 && r.left.waitedMs === 450)
  assert.is(store.calls.acquire, 6, 'one attempt, 4 after 100 ms, one at the deadline')
})

test('acquire stops when the policy stops', async () => {
  const { lock, store } = setup()
  await lease(lock, 'k', 60_000)
  store.calls.acquire = 0
  const r = await lock.acquire('k', 1_000, 60_000, { retry: RetryPolicyMonoid.concat(constantDelay(10), limitRetries(2)) })()
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout' && r.left.attempts === 3 && r.left.waitedMs >= 20)
  assert.is(store.calls.acquire, 3)
})

test('bad arguments fail with InvalidArgument before any store call', async () => {
  const { lock, store } = setup()
  const good = await lease(lock)
  store.calls.acquire = 0
  store.calls.release = 0
  const bad: Array<TE.TaskEither<LockError, unknown>> = [
    lock.acquire('', 1_000, 0),
    lock.acquire('k', 0, 0),
    lock.acquire('k', 1_000, -1),
    lock.acquire(null as any, 1_000, 0),
    lock.tryAcquire('k', 1.5),
    lock.tryAcquire(7 as any, 1_000),
    lock.extend(good, NaN),
    lock.extend({} as any, 1_000),
    lock.release(null as any),
    lock.withLock('k', -1, { timeoutMs: 0 }, () => TE.right(1))
  ]
  for (const task of bad) assert.is(leftTag(await task()), 'InvalidArgument')
  assert.equal(store.calls, { acquire: 0, release: 0, extend: 0 })
})

test('release frees our key; releasing again, or someone else\'s lease, is NotHeld and changes nothing', async () => {
  const { lock, clock } = setup()
  const mine = await lease(lock, 'k', 1_000)
  assert.equal(await lock.release(mine)(), E.right(undefined))
  assert.is(leftTag(await lock.release(mine)()), 'NotHeld')
  const theirs = await lease(lock, 'k', 1_000)
  assert.is(leftTag(await lock.release({ ...theirs, token: 'forged' })()), 'NotHeld')
  assert.is(leftTag(await lock.tryAcquire('k', 1_000)()), 'Right')
  assert.equal(await lock.tryAcquire('k', 1_000)(), E.right(O.none), 'the holder kept the key')
  clock.advance(2_000)
  assert.is(leftTag(await lock.release(theirs)()), 'NotHeld', 'an expired lease is reported')
})

test('extend moves validity forward and keeps the fence; an expired lease cannot be extended', async () => {
  const { lock, clock } = setup()
  const l = await lease(lock, 'k', 1_000)
  clock.advance(500)
  const extended = await lock.extend(l, 2_000)()
  assert.ok(E.isRight(extended))
  const e = (extended as E.Right<any>).right
  assert.is(e.acquiredAt, clock.now())
  assert.is(e.validUntil, clock.now() + 2_000 - driftMs(2_000))
  assert.is(e.fence, l.fence)
  clock.advance(2_500)
  assert.is(leftTag(await lock.extend(e, 1_000)()), 'NotHeld')
})

test('a store failure comes back as its Left, never as a rejection', async () => {
  const { lock, store } = setup()
  store.failing.acquire = driverFailure('k', new Error('down'), false)
  assert.is(leftTag(await lock.acquire('k', 1_000, 1_000)()), 'DriverFailure')
  assert.is(store.calls.acquire, 1, 'a driver failure is not retried as if the key were held')
})

test('an aborted signal stops acquire before any attempt, and during its wait', async () => {
  const { lock, store } = setup()
  await lease(lock, 'k', 60_000)
  store.calls.acquire = 0
  const r = await lock.acquire('k', 1_000, 10_000, { signal: AbortSignal.abort('bye') })()
  assert.equal(r, E.left({ _tag: 'Aborted', key: 'k', reason: 'bye' }))
  assert.is(store.calls.acquire, 0)
  const controller = new AbortController()
  const pending = lock.acquire('k', 1_000, 10_000_000, { signal: controller.signal })()
  await new Promise((resolve) => setTimeout(resolve, 5))
  controller.abort('enough')
  assert.equal(await pending, E.left({ _tag: 'Aborted', key: 'k', reason: 'enough' }))
})

test('aborting while an attempt is in flight: stop at once, and release the grant that lands later', async () => {
  const { lock, store } = setup()
  let open: () => void = () => undefined
  store.gate = new Promise((resolve) => (open = resolve))
  const controller = new AbortController()
  const pending = lock.acquire('k', 60_000, 1_000, { signal: controller.signal })()
  while (store.calls.acquire === 0) await new Promise((resolve) => setImmediate(resolve))
  controller.abort('cancelled')
  assert.is(leftTag(await pending), 'Aborted')
  store.gate = undefined
  open()
  await new Promise((resolve) => setTimeout(resolve, 5))
  assert.is(store.calls.release, 1)
  const again = await lock.tryAcquire('k', 1_000)()
  assert.ok(E.isRight(again) && O.isSome(again.right) && store.size() === 1, 'the key was given back: free again, and taken')
})

test('a store that breaks the contract by rejecting makes acquire reject (with or without a signal), never hang', async () => {
  const { lock, store } = setup()
  const broken = new Error('store threw')
  const rejecting = makeLock({ ...store, acquire: () => () => Promise.reject(broken) }, { env: lock.env })
  for (const signal of [undefined, new AbortController().signal]) {
    const outcome = await rejecting.acquire('k', 1_000, 0, signal === undefined ? {} : { signal })().then(
      () => 'resolved',
      (e: unknown) => e
    )
    assert.is(outcome, broken)
  }
})

test('withLock releases after success and returns use\'s value', async () => {
  const { lock, store } = setup()
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, (l) => TE.right(l.key))()
  assert.equal(r, E.right('k'))
  assert.is(store.size(), 0)
})

test('withLock releases after use fails and keeps use\'s error over a release error', async () => {
  const { lock, store } = setup()
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, () => TE.left('boom' as const))()
  assert.equal(r, E.left('boom'))
  assert.is(store.size(), 0)
  store.failing.release = driverFailure('k', 'down', true)
  const r2 = await lock.withLock('k2', 1_000, { timeoutMs: 0 }, () => TE.left('boom' as const))()
  assert.equal(r2, E.left('boom'))
})

test('withLock releases when use throws or rejects, and rethrows it', async () => {
  const { lock, store } = setup()
  const err = new Error('thrown')
  try {
    await lock.withLock('k', 1_000, { timeoutMs: 0 }, () => () => Promise.reject(err))()
    assert.unreachable('should rethrow')
  } catch (e) {
    assert.is(e, err)
  }
  assert.is(store.size(), 0)
  assert.is(store.calls.release, 1)
})

test('withLock reports a release failure after a successful use', async () => {
  const { lock, store } = setup()
  store.failing.release = driverFailure('k', 'down', true)
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, () => TE.right(1))()
  assert.is(leftTag(r), 'DriverFailure')
})

test('withLock fails with Timeout and never runs use when the key stays held', async () => {
  const { lock } = setup()
  await lease(lock, 'k', 60_000)
  let ran = false
  const r = await lock.withLock('k', 1_000, { timeoutMs: 200 }, () => {
    ran = true
    return TE.right(1)
  })()
  assert.is(leftTag(r), 'Timeout')
  assert.is(ran, false)
})

test('withLock composes in a pipe', async () => {
  const { lock } = setup()
  const r = await pipe(
    lock.withLock('k', 1_000, { timeoutMs: 0 }, (l) => TE.right(l.fence)),
    TE.map((fence) => fence + 1n)
  )()
  assert.equal(r, E.right(2n))
})

test.run()
