import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { ManualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { LeaseLostError, keepAlive } from '../src/KeepAlive.js'
import { makeLock } from '../src/Lock.js'
import { driverFailure } from '../src/LockError.js'
import { memoryStore } from '../adapters/memory.js'
import { instrument } from './support/stores.js'

const setup = () => {
  const clock = new ManualClock()
  let n = 0
  const env: Environment = { clock, random: () => 0.5, token: () => `token-${n++}` }
  const store = instrument(memoryStore({ clock, handoff: false }))
  return { clock, store, lock: makeLock(store, { env }) }
}

/** Lets virtual time pass in small steps so the keeper's loop interleaves. */
const work = async (clock: ManualClock, ms: number, signal?: AbortSignal): Promise<void> => {
  for (let t = 0; t < ms && signal?.aborted !== true; t += 50) {
    clock.advance(50)
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  }
}

test('withLock renews the lease while use runs far past the TTL', async () => {
  const { clock, store, lock } = setup()
  let abortedDuringUse = true
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, (_, signal) => async () => {
    await work(clock, 10_000)
    abortedDuringUse = signal.aborted
    return E.right('done')
  })()
  assert.equal(r, E.right('done'))
  assert.is(abortedDuringUse, false)
  assert.ok(store.calls.extend >= 10, `renewed ${store.calls.extend} times`)
  assert.is(store.size(), 0, 'released at the end')
})

test('the signal aborts with a typed "refused" reason when the key is taken from us', async () => {
  const { clock, store, lock } = setup()
  let reason: unknown
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, (lease, signal) => async () => {
    await store.release(lease)()
    await work(clock, 5_000, signal)
    reason = signal.reason
    return E.right('finished anyway')
  })()
  assert.instance(reason, LeaseLostError)
  assert.is((reason as LeaseLostError).why, 'refused')
  assert.is((reason as LeaseLostError).code, 'LEASE_LOST')
  assert.is((reason as LeaseLostError).key, 'k')
  assert.is(E.isLeft(r) && r.left._tag, 'NotHeld', 'the lost lease is reported, not hidden')
})

test('renewals that keep failing end in an "expired" abort carrying the last error, and renewal retries meanwhile', async () => {
  const { clock, store, lock } = setup()
  store.failing.extend = driverFailure('k', 'down', true)
  let reason: unknown
  await lock.withLock('k', 1_000, { timeoutMs: 0 }, (_, signal) => async () => {
    await work(clock, 5_000, signal)
    reason = signal.reason
    return E.right(undefined)
  })()
  assert.instance(reason, LeaseLostError)
  assert.is((reason as LeaseLostError).why, 'expired')
  assert.is((reason as LeaseLostError).lastError?._tag, 'DriverFailure')
  assert.ok(store.calls.extend >= 2, `retried ${store.calls.extend} times`)
})

test('with autoRenew off the signal fires when the lease expires, and no renewal is sent', async () => {
  const { clock, store, lock } = setup()
  let abortedAt = -1
  await lock.withLock('k', 1_000, { timeoutMs: 0, autoRenew: false }, (lease, signal) => async () => {
    signal.addEventListener('abort', () => (abortedAt = clock.now()))
    await work(clock, 3_000, signal)
    assert.ok(abortedAt >= lease.validUntil, `aborted at ${abortedAt}, valid until ${lease.validUntil}`)
    return E.right(undefined)
  })()
  assert.ok(abortedAt > 0)
  assert.is(store.calls.extend, 0)
})

test('keepAlive outside withLock: stop waits for renewal and hands back the latest lease', async () => {
  const { clock, store, lock } = setup()
  const acquired = await lock.acquire('k', 900, 0)()
  if (E.isLeft(acquired)) throw new Error('acquire failed')
  const keeper = keepAlive(lock, acquired.right, { renewFraction: 0.5 })
  await work(clock, 2_000)
  const last = await keeper.stop()
  assert.ok(last.acquiredAt > acquired.right.acquiredAt, 'renewed')
  assert.is(keeper.current(), last)
  assert.is(keeper.signal.aborted, false)
  assert.is(clock.pending(), 0, 'no timer left behind')
  assert.equal(await lock.release(last)(), E.right(undefined))
  const callsAtStop = store.calls.extend
  await work(clock, 2_000)
  assert.is(store.calls.extend, callsAtStop, 'no renewal after stop')
})

test('an out-of-range renewFraction falls back to 1/3', async () => {
  const { clock, lock } = setup()
  const acquired = await lock.acquire('k', 3_000, 0)()
  if (E.isLeft(acquired)) throw new Error('acquire failed')
  const keeper = keepAlive(lock, acquired.right, { renewFraction: 7 })
  await work(clock, 1_100)
  const last = await keeper.stop()
  assert.ok(last.acquiredAt >= 950 && last.acquiredAt <= 1_100, `renewed at ${last.acquiredAt}`)
})

test('a keeper started on an already expired lease aborts at once', async () => {
  const { clock, lock } = setup()
  const acquired = await lock.acquire('k', 100, 0)()
  if (E.isLeft(acquired)) throw new Error('acquire failed')
  clock.advance(1_000)
  const keeper = keepAlive(lock, acquired.right)
  await keeper.stop()
  assert.ok(keeper.signal.aborted)
  assert.is((keeper.signal.reason as LeaseLostError).why, 'expired')
})

test('the use function sees the same signal the keeper aborts', async () => {
  const { lock } = setup()
  const r = await lock.withLock('k', 1_000, { timeoutMs: 0 }, (_, signal) => TE.right(signal instanceof AbortSignal))()
  assert.equal(r, E.right(true))
})

test.run()
