/**
 * The holes a hostile review found in the handoff and the keep-alive, each
 * replayed as one exact interleaving on the memory model (the property in
 * properties.test.ts searches for such interleavings at random).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { ManualClock } from '../src/Clock.js'
import { keepAlive, LeaseLostError } from '../src/KeepAlive.js'
import { Lease, driftMs } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import type { LockError } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Queued, Store } from '../src/Store.js'
import { MemoryStore, memoryStore } from '../adapters/memory.js'
import { advance, backedBy, envOf, leaseOf, ticks } from './support/manualSteps.js'

/** Notifications held back until released by hand. */
const heldBack = () => {
  const pending: Array<() => void> = []
  return { deliver: (notify: () => void) => void pending.push(notify), flush: () => pending.splice(0).forEach((f) => f()), count: () => pending.length }
}

/**
 * A client whose waiters poll on their retry policy (its queue's answers carry
 * no safety-net `recheckMs`), as a stalled process polls late: the replays of
 * the holes need a poll that misses the claim, which the safety net (a poll
 * within one claim TTL) otherwise makes.
 */
const pollingLate = (client: Store): Store => {
  const queue = client.queue!
  const plain =
    (run: TE.TaskEither<LockError, Queued>): TE.TaskEither<LockError, Queued> =>
    async () => {
      const r = await run()
      return E.isRight(r) && r.right._tag === 'Waiting' ? E.right({ _tag: 'Waiting', seen: r.right.seen }) : r
    }
  return {
    ...client,
    queue: { ...queue, acquireOrEnqueue: (...args) => plain(queue.acquireOrEnqueue(...args)), poll: (...args) => plain(queue.poll(...args)) }
  }
}

/** A client that counts its waiters' polls. */
const countingPolls = (client: Store): { readonly store: Store; readonly polls: () => number } => {
  const queue = client.queue!
  let polls = 0
  return {
    store: { ...client, queue: { ...queue, poll: (...args) => (polls++, queue.poll(...args)) } },
    polls: () => polls
  }
}

test('the safety net: a lost notification is claimed by a poll within the claim TTL, though the retry policy would poll after a minute', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const w = countingPolls(server.client({ claimMs: 300, deliver: () => undefined }))
  const waiter = makeLock(w.store, { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  let answer: E.Either<LockError, Lease> | undefined
  void waiter.acquire('k', 10_000, 120_000)().then((r) => (answer = r))
  await ticks()
  await advance(clock, 100)
  await h.release(holder)() // handed over at 100 for 300 ms; the notification is lost
  await advance(clock, 250)
  const lease = leaseOf(answer!)
  assert.is(w.polls(), 1, 'one poll, at one claim TTL after joining')
  assert.ok(backedBy(server, lease, clock.now()))
  const held = server.holder('k')
  assert.ok(O.isSome(held) && held.value.expiresAt >= clock.now() + 9_000, 'claimed with the full TTL')
})

test('the safety net: a holder that expires is found by a poll when its TTL ends, with one poll per claim TTL meanwhile', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const w = countingPolls(server.client())
  const waiter = makeLock(w.store, { env: envOf(clock, 'w'), retry: constantDelay(5) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  leaseOf(await h.acquire('k', 3_500, 0)()) // never released
  let answer: E.Either<LockError, Lease> | undefined
  void waiter.acquire('k', 10_000, 60_000)().then((r) => (answer = r))
  await ticks()
  await advance(clock, 3_400)
  assert.is(answer, undefined)
  assert.is(w.polls(), 3, 'at 1000, 2000 and 3000 (the claim TTL), not every 5 ms as the retry policy would')
  await advance(clock, 110)
  assert.ok(answer !== undefined && E.isRight(answer), 'taken when the holder\'s TTL ended')
  assert.is(w.polls(), 4)
})

test('hole 1: a handover notified after its claim lapsed, and after a poll found a newer holder, is not answered as a lease', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const late = heldBack()
  const w = makeLock(pollingLate(server.client({ claimMs: 300, deliver: late.deliver })), { env: envOf(clock, 'w'), retry: constantDelay(400) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  let answer: E.Either<LockError, Lease> | undefined
  void w.acquire('k', 1_000, 60_000)().then((r) => (answer = r))
  await ticks()
  await h.release(holder)()
  assert.is(late.count(), 1, 'the handover is in flight')
  await advance(clock, 350) // the claim lapses unclaimed
  const intruder = leaseOf(await h.acquire('k', 60_000, 0)())
  await advance(clock, 52) // the waiter polls (at 400) and finds the intruder's key
  late.flush() // ... then the stale notification arrives, with most of a claim TTL after that poll
  await ticks()
  assert.is(answer, undefined, 'no lease answered while the intruder holds the key')
  await h.release(intruder)()
  late.flush()
  await ticks()
  assert.ok(answer !== undefined, 'handed over at once')
  const lease = leaseOf(answer)
  assert.ok(lease.fence > intruder.fence, 'the waiter was put back at the head and handed the key after the intruder')
  assert.ok(backedBy(server, lease, clock.now()))
})

test('hole 2: the key is handed over for the waiter\'s own claim TTL, whatever the releaser\'s, and the early lease covers no more', async () => {
  for (const [releaserClaim, waiterClaim] of [
    [100, 1_000],
    [1_000, 100]
  ] as const) {
    const clock = new ManualClock()
    const server = memoryStore({ clock })
    const w = makeLock(server.client({ claimMs: waiterClaim }), { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
    const r = makeLock(server.client({ claimMs: releaserClaim }), { env: envOf(clock, 'r') })
    const holder = leaseOf(await r.acquire('k', 60_000, 0)())
    const waiting = w.acquire('k', 1_000, 60_000)()
    await ticks()
    await r.release(holder)()
    const early = leaseOf(await waiting)
    assert.is(early.validUntil, waiterClaim - driftMs(1_000), `releaser ${releaserClaim}, waiter ${waiterClaim}`)
    const held = server.holder('k')
    assert.ok(O.isSome(held) && held.value.expiresAt >= early.validUntil)
  }
})

test('hole 3: the lost-lease signal fires at validUntil while a renewal hangs', async () => {
  const clock = new ManualClock()
  const base = memoryStore({ clock })
  const hanging: Store = { ...base, extend: () => () => clock.sleep(3_000).then(() => E.right(O.none)) }
  const lock = makeLock(hanging, { env: envOf(clock, 'k') })
  const lease = leaseOf(await lock.acquire('k', 1_000, 0)())
  const keeper = keepAlive(lock, lease)
  await advance(clock, lease.validUntil - 1)
  assert.not.ok(keeper.signal.aborted, 'still provably ours')
  await advance(clock, 1)
  assert.ok(keeper.signal.aborted, `fired at ${clock.now()}, the lease's end, not when the renewal returns`)
  assert.is((keeper.signal.reason as LeaseLostError).why, 'expired')
  const stopping = keeper.stop()
  await advance(clock, 3_000)
  await stopping
})

/** A holder, a waiter, and a release: the waiter's early lease. */
const handedOver = async (extend?: (base: MemoryStore) => Store['extend']) => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const client = server.client()
  const store: Store = extend === undefined ? client : { ...client, extend: extend(client) }
  const w = makeLock(store, { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  const waiting = w.acquire('k', 10_000, 60_000)()
  await ticks()
  await advance(clock, 5)
  await h.release(holder)()
  return { clock, server, lock: w, early: leaseOf(await waiting) }
}

test('hole 4: a handed-over lease is confirmed for its full TTL, and a failed claim is visible', async () => {
  const { clock, lock, early, server } = await handedOver()
  assert.is(early.validUntil, 0 + 1_000 - driftMs(10_000), 'answered at once for the claim TTL only')
  const confirmed = leaseOf(await lock.confirm(early)())
  assert.is(confirmed.validUntil, 5 + 10_000 - driftMs(10_000), 'confirmed from the claim for the TTL asked for')
  assert.is(confirmed.fence, early.fence)
  assert.ok(backedBy(server, confirmed, clock.now()))
  assert.equal(await lock.confirm(confirmed)(), E.right(confirmed), 'a confirmed lease is answered as it is')

  const lost = await handedOver((base) => (held, ttl) => async () => {
    await base.release(held)() // the handover is gone before the claim lands
    return base.extend(held, ttl)()
  })
  const refused = await lost.lock.confirm(lost.early)()
  assert.ok(E.isLeft(refused) && refused.left._tag === 'NotHeld')
})

test('hole 4: withLock without renewal keeps a handed-over lease for its TTL, not the claim TTL', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const w = makeLock(server.client(), { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  const result = w.withLock('k', 10_000, { timeoutMs: 60_000, autoRenew: false }, (lease, signal) => async () => {
    const early = lease.validUntil
    await clock.sleep(5_000)
    return E.right({ early, lostAt5s: signal.aborted })
  })()
  await ticks()
  await h.release(holder)()
  await advance(clock, 5_050)
  const outcome = await result
  assert.ok(E.isRight(outcome) && outcome.right.early < 1_000, 'answered at once, for the claim TTL')
  assert.equal(outcome, E.right({ early: 1_000 - driftMs(10_000), lostAt5s: false }), 'still ours at 5 s: the keeper learned the confirmed TTL')
})

test('hole 4: acquire with confirmed claims a handover before answering, and the lease carries the full TTL', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const w = makeLock(server.client(), { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  const waiting = w.acquire('k', 10_000, 60_000, { confirmed: true })()
  await ticks()
  await advance(clock, 5)
  await h.release(holder)()
  const lease = leaseOf(await waiting)
  assert.is(lease.validUntil, 5 + 10_000 - driftMs(10_000))
  assert.ok(backedBy(server, lease, clock.now()))
})

test('hole 5: a grant whose reply comes after its validity is no lease: given back, and acquire goes on within its timeout', async () => {
  const clock = new ManualClock()
  const base = memoryStore({ clock, handoff: false })
  let slow = true
  const store: Store = {
    ...base,
    acquire: (key, token, ttl) => async () => {
      const r = await base.acquire(key, token, ttl)()
      if (slow) await clock.sleep(150)
      return r
    }
  }
  const lock = makeLock(store, { env: envOf(clock, 'k'), retry: constantDelay(10) })
  const tried = lock.tryAcquire('k', 100)()
  await advance(clock, 150)
  assert.equal(await tried, E.right(O.none), 'not a lease')
  await ticks()
  assert.equal(base.holder('k'), O.none, 'and given back at once, not left until its TTL')
  let answeredAt = -1
  const acquiring = lock.acquire('k', 100, 1_000)().then((r) => ((answeredAt = clock.now()), r))
  await advance(clock, 160)
  slow = false
  await advance(clock, 400)
  const lease = leaseOf(await acquiring)
  assert.ok(lease.validUntil > answeredAt, 'the lease it answers is valid when answered')
})

test('hole 6: a waiter whose notification was lost gets its place back at the head of the queue', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const lost = { deliver: () => undefined }
  const w1 = makeLock(pollingLate(server.client({ claimMs: 300, ...lost })), { env: envOf(clock, 'w1'), retry: constantDelay(2_000) })
  const w2 = makeLock(pollingLate(server.client()), { env: envOf(clock, 'w2'), retry: constantDelay(60_000) })
  const c = makeLock(server.client(), { env: envOf(clock, 'c') })
  const holder = leaseOf(await c.acquire('k', 60_000, 0)())
  const order: string[] = []
  const first = w1.acquire('k', 10_000, 60_000)().then((r) => (order.push('w1'), r))
  await ticks()
  const second = w2.acquire('k', 10_000, 60_000)().then((r) => (order.push('w2'), r))
  await ticks()
  await c.release(holder)() // handed to w1, whose notification is lost
  await advance(clock, 500) // the claim lapses; the key is free
  const intruder = leaseOf(await c.acquire('k', 60_000, 0)())
  await advance(clock, 1_600) // w1 polls at 2000 and finds the intruder
  await c.release(intruder)()
  await ticks()
  await advance(clock, 2_000) // w1's next poll finds the key handed to it
  assert.equal(order, ['w1'], 'w1 was served before w2')
  const lease = leaseOf(await first)
  await w1.release(lease)()
  leaseOf(await second)
})

test('hole 7: an abort during a late handover leaves no queue entry behind', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const late = heldBack()
  const client = pollingLate(server.client({ claimMs: 300, deliver: late.deliver }))
  const queue = client.queue!
  const store: Store = { ...client, queue: { ...queue, poll: (...args) => async () => { await clock.sleep(50); return queue.poll(...args)() } } }
  const w = makeLock(store, { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const holder = leaseOf(await h.acquire('k', 60_000, 0)())
  const controller = new AbortController()
  const waiting = w.acquire('k', 10_000, 60_000, { signal: controller.signal })()
  await ticks()
  await h.release(holder)()
  await advance(clock, 400) // the claim lapses
  const intruder = leaseOf(await h.acquire('k', 60_000, 0)())
  late.flush() // the late notification: the waiter polls (which will put it back in the queue)...
  await ticks()
  controller.abort() // ... and is aborted while that poll is in flight
  const r = await waiting
  assert.ok(E.isLeft(r) && r.left._tag === 'Aborted')
  await advance(clock, 60)
  assert.equal(server.queued('k'), [], 'the waiter left after its poll settled')
  await h.release(intruder)()
  assert.equal(server.holder('k'), O.none, 'nobody is handed the key')
})

test('hole 10: a copy of a handed-over lease extended before the claim lands is not shortened by the claim', async () => {
  let release: (() => void) | undefined
  const { clock, lock, early, server } = await handedOver((base) => (held, ttl) => async () => {
    if (release === undefined) await new Promise<void>((resolve) => (release = resolve)) // the claim is slow
    return base.extend(held, ttl)()
  })
  const copy = { ...early }
  const extending = lock.extend(copy, 20_000)()
  await ticks()
  release?.()
  const extended = leaseOf(await extending)
  assert.ok(backedBy(server, extended, clock.now()), 'the extend was sent after the claim')
  const held = server.holder('k')
  assert.ok(O.isSome(held) && held.value.expiresAt >= extended.validUntil)
})

test.run()
