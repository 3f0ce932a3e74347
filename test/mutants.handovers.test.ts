// Tests written from the mutation run's survivors (see the README's Development section):
// the handover registry, the claims in flight, and when a grant is a lease.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { makeClaims } from '../src/Claims.js'
import { ManualClock } from '../src/Clock.js'
import { makeHandovers } from '../src/Handovers.js'
import { Lease, fromGrant } from '../src/Lease.js'
import type { LockError } from '../src/LockError.js'
import type { Grant } from '../src/Store.js'
import { leaseOf } from '../src/Tries.js'

const grant = (fence: bigint, validityMs = 1_000): Grant => ({ fence, validityMs, revision: `${fence}` })
const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
/** A wait's answer, or 'pending' if it has not come after a few ticks (no time passes on the manual clock). */
const settledOrPending = async <A>(p: Promise<A>): Promise<A | 'pending'> => {
  let result: A | 'pending' = 'pending'
  void p.then((a) => (result = a))
  await ticks()
  return result
}

test('handovers: a handover notified before the wait is answered at once, without sleeping', async () => {
  const clock = new ManualClock()
  const handovers = makeHandovers(clock)
  handovers.register('t')
  const g = grant(5n)
  handovers.notify('t', g)
  assert.equal(await settledOrPending(handovers.wait('t', 10_000, 4n)), O.some(g))
  assert.is(clock.pending(), 0)
})

test('handovers: registering again keeps a handover already notified', async () => {
  const handovers = makeHandovers(new ManualClock())
  handovers.register('t')
  handovers.notify('t', grant(5n))
  handovers.register('t')
  assert.equal(await settledOrPending(handovers.wait('t', 100, 0n)), O.some(grant(5n)))
})

test('handovers: a handover at or below what the wait is after is stale, notified before or during the wait', async () => {
  for (const [notified, after] of [
    [3n, 5n],
    [5n, 5n]
  ] as const) {
    const clock = new ManualClock()
    const handovers = makeHandovers(clock)
    handovers.register('t')
    handovers.notify('t', grant(notified))
    const before = handovers.wait('t', 100, after)
    assert.is(await settledOrPending(before), 'pending', `${notified} notified before a wait after ${after}`)
    clock.advance(100)
    assert.equal(await before, O.none)

    const during = handovers.wait('t', 100, after)
    handovers.notify('t', grant(after))
    assert.is(await settledOrPending(during), 'pending', `${after} notified during a wait after ${after}`)
    clock.advance(100)
    assert.equal(await during, O.none)
  }
})

test('handovers: a wait for a token never registered still ignores stale handovers', async () => {
  const clock = new ManualClock()
  const handovers = makeHandovers(clock)
  const waiting = handovers.wait('t', 100, 5n)
  handovers.notify('t', grant(4n))
  assert.is(await settledOrPending(waiting), 'pending')
  clock.advance(100)
  assert.equal(await waiting, O.none)
})

test('handovers: a later wait with a lower `after` does not lower it', async () => {
  const clock = new ManualClock()
  const handovers = makeHandovers(clock)
  const first = handovers.wait('t', 10, 5n)
  clock.advance(10)
  assert.equal(await first, O.none)
  const second = handovers.wait('t', 10, 3n)
  handovers.notify('t', grant(4n))
  assert.is(await settledOrPending(second), 'pending')
  clock.advance(10)
  assert.equal(await second, O.none)
})

test('handovers: of several notifications the highest fence wins, in any order; a repeat of the same fence changes nothing', async () => {
  for (const order of [
    [7n, 6n],
    [6n, 7n]
  ]) {
    const handovers = makeHandovers(new ManualClock())
    handovers.register('t')
    for (const fence of order) handovers.notify('t', grant(fence))
    assert.equal(await settledOrPending(handovers.wait('t', 100, 0n)), O.some(grant(7n)), `notified ${order.join(', ')}`)
  }
  const handovers = makeHandovers(new ManualClock())
  handovers.register('t')
  const first = grant(7n, 1_000)
  handovers.notify('t', first)
  handovers.notify('t', grant(7n, 500))
  const handed = await settledOrPending(handovers.wait('t', 100, 0n))
  assert.ok(handed !== 'pending' && O.isSome(handed) && handed.value === first)
})

test('handovers: a forgotten waiter ignores notifications', async () => {
  const clock = new ManualClock()
  const handovers = makeHandovers(clock)
  handovers.register('t')
  handovers.forget('t')
  handovers.notify('t', grant(5n))
  const waiting = handovers.wait('t', 100, 0n)
  assert.is(await settledOrPending(waiting), 'pending')
  clock.advance(100)
  assert.equal(await waiting, O.none)
})

const leaseFor = (token: string, validityMs: number): Lease => fromGrant('k', token, 10_000, 0, grant(3n, validityMs))

test('claims: an operation on a lease waits for its claim; other leases have claims of their own', async () => {
  const claims = makeClaims(new ManualClock())
  const a = leaseFor('a', 1_000)
  const b = leaseFor('b', 1_000)
  let resolveA: (r: E.Either<LockError, Lease>) => void = () => undefined
  claims.begin(a, new Promise((resolve) => (resolveA = resolve)))
  const bConfirmed = leaseFor('b', 10_000)
  claims.begin(b, Promise.resolve(E.right(bConfirmed)))
  const events: string[] = []
  const after = claims.after({ ...a }, async () => {
    events.push('sent')
    return 'done'
  })
  await ticks()
  assert.equal(events, [], 'not sent before the claim settled')
  resolveA(E.right(leaseFor('a', 10_000)))
  assert.is(await after, 'done')
  assert.equal(events, ['sent'])
  const settledB = await claims.settle(b)
  assert.ok(E.isRight(settledB) && settledB.right === bConfirmed, "b's own claim")
  assert.equal(await claims.settle(a), E.right(a), 'a claim is forgotten once waited for')
})

test('leaseOf: a grant is a lease until its validity is spent; a grant with no provable validity is still one', () => {
  // validUntil = sentAt + validity - drift = 0 + 100 - 3 = 97
  assert.ok(O.isSome(leaseOf('k', 't', 100, 0, grant(1n, 100), 96)))
  assert.equal(leaseOf('k', 't', 100, 0, grant(1n, 100), 97), O.none)
  assert.equal(leaseOf('k', 't', 100, 0, grant(1n, 100), 98), O.none)
  assert.ok(O.isSome(leaseOf('k', 't', 100, 0, grant(1n, 0), 50)))
})


test('claims: once the set has doubled, settled claims of expired leases and failed claims are swept; claims in flight and live outcomes stay', async () => {
  const clock = new ManualClock()
  const claims = makeClaims(clock)
  const inFlight = leaseFor('in-flight', 1_000)
  let resolveInFlight: (r: E.Either<LockError, Lease>) => void = () => undefined
  claims.begin(inFlight, new Promise((resolve) => (resolveInFlight = resolve)))
  const live = leaseFor('live', 1_000)
  const liveOutcome = fromGrant('k', 'live', 10_000, 0, grant(3n, 60_000))
  claims.begin(live, Promise.resolve(E.right(liveOutcome)))
  for (let i = 0; i < 1_022; i++) {
    const l = leaseFor(`short-${i}`, 1_000)
    claims.begin(l, Promise.resolve(i % 2 === 0 ? E.right(l) : E.left<LockError>({ _tag: 'NotHeld', key: 'k' })))
  }
  await ticks()
  assert.is(claims.size(), 1_024, 'nothing swept below the threshold')
  clock.advance(2_000)
  claims.begin(leaseFor('trigger', 1_000), new Promise(() => undefined))
  assert.is(claims.size(), 3, 'the sweep left the claim in flight, the live outcome and the new claim')
  const events: string[] = []
  const after = claims.after({ ...inFlight }, async () => {
    events.push('sent')
    return 'done'
  })
  await ticks()
  assert.equal(events, [], 'an operation still waits for the claim in flight')
  resolveInFlight(E.right(inFlight))
  assert.is(await after, 'done')
  assert.equal(await claims.settle(live), E.right(liveOutcome), 'a live outcome survives the sweep')
})

test.run()
