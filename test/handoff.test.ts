import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { ManualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import type { LockError } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import { memoryStore } from '../adapters/memory.js'

const setup = (claimMs = 1_000) => {
  const clock = new ManualClock()
  let n = 0
  const env: Environment = { clock, random: () => 0.5, token: () => `token-${n++}` }
  const store = memoryStore({ clock, claimMs })
  return { clock, store, lock: makeLock(store, { env, retry: constantDelay(1_000) }) }
}
const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${r.left._tag}`)
  return r.right
}

test('a release hands the key to the first waiter at once, without waiting for a poll or a claim', async () => {
  const { clock, lock, store } = setup()
  const holder = leaseOf(await lock.acquire('k', 10_000, 0)())
  const waiting = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  clock.advance(10)
  assert.equal(await lock.release(holder)(), E.right(undefined))
  const next = leaseOf(await waiting)
  assert.is(clock.now(), 10, 'no time passed: woken, not polled')
  assert.ok(next.fence > holder.fence)
  assert.is(next.acquiredAt, 0, 'validity counts from the waiter\'s last request that found the key held')
  assert.is(next.validUntil, 0 + 1_000 - 102, '... and covers only the claim TTL until the claim is through')
  await ticks()
  clock.advance(5_000)
  assert.equal(await store.acquire('k', 'other', 1_000)(), E.right(O.none), 'the background claim extended the key to the full TTL')
  assert.equal(await lock.release(next)(), E.right(undefined))
})

test('a late handover (less than half the claim TTL provably left) is claimed before the lease is answered', async () => {
  const { clock, lock } = setup()
  const holder = leaseOf(await lock.acquire('k', 10_000, 0)())
  const waiting = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  clock.advance(700)
  await lock.release(holder)()
  const next = leaseOf(await waiting)
  assert.is(next.acquiredAt, 700)
  assert.is(next.validUntil, 700 + 10_000 - 102, 'validity counts from the claim, for the full TTL')
})

test('waiters are served in arrival order', async () => {
  const { lock } = setup()
  let current = leaseOf(await lock.acquire('k', 10_000, 0)())
  const order: number[] = []
  const waiters = [0, 1, 2, 3].map(async (i) => {
    await ticks(i)
    const lease = leaseOf(await lock.acquire('k', 10_000, 60_000)())
    order.push(i)
    return lease
  })
  await ticks(10)
  for (let i = 0; i < 4; i++) {
    await lock.release(current)()
    await ticks()
    current = await waiters[order[order.length - 1]!]!
  }
  assert.equal(order, [0, 1, 2, 3])
})

test('a waiter that gave up leaves the queue; the next live waiter gets the key', async () => {
  const { clock, lock } = setup()
  const holder = leaseOf(await lock.acquire('k', 60_000, 0)())
  const quitter = lock.acquire('k', 10_000, 500)()
  await ticks()
  const patient = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  clock.advance(500)
  await ticks()
  const q = await quitter
  assert.ok(E.isLeft(q) && q.left._tag === 'Timeout')
  await lock.release(holder)()
  assert.ok(E.isRight(await patient))
})

test('an aborted waiter leaves at once and a later release skips it', async () => {
  const { lock } = setup()
  const holder = leaseOf(await lock.acquire('k', 60_000, 0)())
  const controller = new AbortController()
  const aborted = lock.acquire('k', 10_000, 60_000, { signal: controller.signal })()
  await ticks()
  const next = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  controller.abort('cancel')
  const a = await aborted
  assert.ok(E.isLeft(a) && a.left._tag === 'Aborted')
  await lock.release(holder)()
  assert.ok(E.isRight(await next))
})

test('a handover that races the waiter\'s exit is passed on, not lost', async () => {
  const { store } = setup()
  const queue = store.queue!
  await store.acquire('k', 'holder', 60_000)()
  await queue.acquireOrEnqueue('k', 'first', 10_000, 60_000)()
  await queue.acquireOrEnqueue('k', 'second', 10_000, 60_000)()
  assert.ok(E.isRight(await store.release({ key: 'k', token: 'holder', revision: '' })()), 'handed to first')
  await queue.leave('k', 'first')()
  const second = await queue.awaitHandoff('k', 'second', 0, 0n)
  assert.ok(O.isSome(second), 'first passed the key on to second')
  assert.equal(await store.acquire('k', 'intruder', 1_000)(), E.right(O.none))
})

test('when the holder expires instead of releasing, the waiter takes the key on its next poll', async () => {
  const { clock, lock } = setup()
  leaseOf(await lock.acquire('k', 1_500, 0)())
  const waiting = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  clock.advance(1_000)
  await ticks()
  clock.advance(1_000)
  await ticks()
  const lease = leaseOf(await waiting)
  assert.is(lease.acquiredAt, 2_000)
})

test('a handover nobody claims in time expires after the claim TTL', async () => {
  const { clock, store } = setup(300)
  const queue = store.queue!
  await store.acquire('k', 'holder', 60_000)()
  await queue.acquireOrEnqueue('k', 'ghost', 10_000, 60_000)()
  await store.release({ key: 'k', token: 'holder', revision: '' })()
  assert.equal(await store.acquire('k', 'other', 1_000)(), E.right(O.none), 'claimed for the ghost')
  clock.advance(300)
  assert.ok(O.isSome((await store.acquire('k', 'other', 1_000)() as E.Right<O.Option<unknown>>).right))
})

test('a waiter whose handover was missed finds it on its poll, extended to its full TTL', async () => {
  const { clock, store } = setup(300)
  const queue = store.queue!
  await store.acquire('k', 'holder', 60_000)()
  await queue.acquireOrEnqueue('k', 'w', 10_000, 60_000)()
  await store.release({ key: 'k', token: 'holder', revision: '' })()
  const polled = await queue.poll('k', 'w', 10_000, 60_000)()
  assert.ok(E.isRight(polled) && polled.right._tag === 'Granted' && polled.right.grant.validityMs === 10_000)
  clock.advance(5_000)
  assert.equal(await store.acquire('k', 'other', 1_000)(), E.right(O.none), 'held well past the claim TTL')
})

test('a handover claimed too late is not lost: the poll that finds it gone puts the waiter back at the head of the queue', async () => {
  const clock = new ManualClock()
  let n = 0
  const base = memoryStore({ clock, claimMs: 300 })
  let intruder: Promise<E.Either<LockError, O.Option<unknown>>> | undefined
  const queue = base.queue!
  const store = {
    ...base,
    queue: {
      ...queue,
      poll: (key: string, token: string, ttl: number, waitMs: number) => {
        if (intruder === undefined) {
          clock.advance(400) // the claim lapses before the poll is sent, and someone else takes the free key
          intruder = base.acquire('k', 'intruder', 60_000)()
        }
        return queue.poll(key, token, ttl, waitMs)
      }
    }
  }
  const lock = makeLock(store, { env: { clock, random: () => 0.5, token: () => `token-${n++}` }, retry: constantDelay(1_000) })
  const holder = leaseOf(await lock.acquire('k', 60_000, 0)())
  const waiting = lock.acquire('k', 10_000, 60_000)()
  await ticks()
  clock.advance(250) // the handover comes late: it must be claimed before the lease is answered
  await lock.release(holder)()
  await ticks()
  assert.ok(intruder !== undefined && E.isRight(await intruder))
  await base.release({ key: 'k', token: 'intruder', revision: '' })()
  let timer: NodeJS.Timeout | undefined
  const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), 1_000)))
  const outcome = await Promise.race([waiting, stuck])
  clearTimeout(timer)
  assert.ok(outcome !== 'stuck', 'the waiter was back in the queue and was handed the key on release')
  assert.is(leaseOf(outcome as E.Either<LockError, Lease>).acquiredAt, 650)
})

test('tryAcquire stays a single attempt and never queues', async () => {
  const { lock, store } = setup()
  const holder = leaseOf(await lock.acquire('k', 60_000, 0)())
  assert.equal(await lock.tryAcquire('k', 1_000)(), E.right(O.none))
  await lock.release(holder)()
  assert.is(store.size(), 0, 'nobody was queued to receive the key')
})

test.run()
