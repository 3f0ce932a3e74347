/**
 * A hostile review of the lease rules, replayed as exact interleavings on the
 * memory model (a manual clock, one server's data, a client per process).
 * Each test fails on the code it was written against.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { ManualClock } from '../src/Clock.js'
import { keepAlive } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { Store } from '../src/Store.js'
import { memoryStore } from '../adapters/memory.js'
import { advance, backedBy, envOf, leaseOf, ticks } from './support/manualSteps.js'


/**
 * src/KeepAlive.ts renews with `lock.extend(current, current.ttlMs)`: the TTL
 * of the lease the keeper started with. An extend of the same lease by its
 * holder (to 5 s) is undone by the keeper's next renewal (back to 300 ms);
 * the extended lease still claims 5 s. After `stop()` the key expires at the
 * keeper's horizon and another client takes it: two leases believed valid.
 */
test('a keeper renewal never shortens a lease its holder extended meanwhile', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const lock = makeLock(server.client(), { env: envOf(clock, 'a') })
  const other = makeLock(server.client(), { env: envOf(clock, 'b') })
  const lease = leaseOf(await lock.acquire('k', 300, 0)())
  const keeper = keepAlive(lock, lease)
  const extended = leaseOf(await lock.extend(keeper.current(), 5_000)())
  assert.is(extended.validUntil, 5_000 - 52)
  await advance(clock, 150) // the keeper renews at 99 ms, with 300 ms
  assert.ok(backedBy(server, extended, clock.now()))
  const held = server.holder('k')
  assert.ok(O.isSome(held) && held.value.expiresAt >= extended.validUntil, `the renewal cut the extended lease: the store expires the key at ${O.isSome(held) ? held.value.expiresAt : '-'}, the lease says ${extended.validUntil}`)
  await keeper.stop()
  await advance(clock, 400)
  const intruder = await other.tryAcquire('k', 60_000)()
  assert.ok(E.isRight(intruder) && O.isNone(intruder.right), 'another client got the key while the extended lease is believed valid')
})

/**
 * A TTL of 1 or 2 ms passes `validateTtl`, but `driftMs` (1% + 2 ms) eats
 * all of it: every grant is "spent on arrival" (src/Tries.ts `leaseOf`), so
 * `tryAcquire` answers `none` ("the key is held") for a free key, and
 * `acquire` writes an acquire and a give-back per attempt until its timeout,
 * then reports `Timeout`, although nobody held the key. A TTL that can never
 * be answered is bad input: it should be an `InvalidArgument` before any I/O.
 */
test('a TTL too short to ever be answered is refused before any I/O, never reported as a held key', async () => {
  const clock = new ManualClock()
  const base = memoryStore({ clock, handoff: false })
  let writes = 0
  const counted: Store = {
    ...base,
    acquire: (...args) => (writes++, base.acquire(...args)),
    release: (held) => (writes++, base.release(held))
  }
  const lock = makeLock(counted, { env: envOf(clock, 'a') })
  for (const ttl of [1, 2]) {
    writes = 0
    const r = await lock.tryAcquire('free', ttl)()
    assert.ok(!(E.isRight(r) && O.isNone(r.right)), `tryAcquire('free', ${ttl}) answered "held" for a key nobody holds`)
    assert.ok(E.isLeft(r) && r.left._tag === 'InvalidArgument' && writes === 0, `ttl ${ttl}: ${writes} writes, answered ${r._tag}`)
  }
})

/**
 * src/Claims.ts keeps the claim of every lease answered early from a
 * handover in its `pending` map until an operation on that lease takes it
 * (confirm, extend, release). A lease left to expire (a holder that relies on
 * the TTL, or one that lost track of the lease) is never taken: the map grows
 * for the life of the lock (measured: about 300 bytes per lease, 30 MB after
 * 100 000 such leases, none when each is confirmed). The retention shows in
 * `confirm`: long after the lease and its claim's validity passed, and after
 * later handovers, it still answers the stored claim instead of the lease as
 * it is.
 */
test('the lock keeps nothing for an early-answered lease once its validity has passed', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  const w = makeLock(server.client(), { env: envOf(clock, 'w'), retry: constantDelay(60_000) })
  const h = makeLock(server.client(), { env: envOf(clock, 'h') })
  const handedOver = async (): Promise<Lease> => {
    const holder = leaseOf(await h.acquire('k', 60_000, 0)())
    const waiting = w.acquire('k', 10_000, 60_000)()
    await ticks()
    await h.release(holder)()
    return leaseOf(await waiting)
  }
  const first = await handedOver()
  assert.ok(first.validUntil - first.acquiredAt < 10_000, 'answered early, its claim in the background')
  await advance(clock, 1)
  clock.advance(60_000) // the lease, confirmed or not, has long expired; nobody released it
  const second = await handedOver() // the lock answers more early leases meanwhile
  await w.release(second)()
  const answered = await w.confirm(first)()
  assert.equal(answered, E.right(first), 'the expired lease is answered as it is: its claim was not kept')
})

test.run()
