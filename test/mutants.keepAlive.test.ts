// Tests written from the mutation run's survivors (see the README's Development section):
// when a keeper renews, retries, confirms, and gives up, measured on a renewer
// that records the time of every request and answers as told.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { Clock, ManualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { KeepAlive, KeepAliveOptions, LeaseLostError, Renewer, keepAlive } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { LockError, driverFailure, notHeld } from '../src/LockError.js'

type Answer = E.Either<LockError, Lease>

/** Valid from `at` for `ms`, fence 1. */
const leaseAt = (at: number, ms = 1_000): Lease => ({ key: 'k', token: 't', ttlMs: 1_000, acquiredAt: at, validUntil: at + ms, fence: 1n, revision: '' })

/**
 * A renewer on `clock`: each extend is answered by the next of `answers`
 * (a renewed lease by default, at once), and recorded with its time.
 */
const renewer = (clock: Clock, answers: Array<() => Promise<Answer>> = [], confirm?: () => Promise<Answer>) => {
  const extends_: number[] = []
  const env: Environment = { clock, random: () => 0.5, token: () => 'unused' }
  const r: Renewer = {
    env,
    extend: () => () => {
      extends_.push(clock.now())
      const next = answers.shift()
      return next !== undefined ? next() : Promise.resolve(E.right(leaseAt(clock.now())))
    },
    ...(confirm === undefined ? {} : { confirm: () => confirm })
  }
  return { renewer: r, extends: extends_ }
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
/** Runs timers one by one until `done()` or `until` (a clock reading) is passed. */
const runUntil = async (clock: ManualClock, done: () => boolean, until = 100_000): Promise<void> => {
  await ticks()
  while (!done() && clock.now() < until && clock.advanceToNext()) await ticks()
}
/** A deferred answer. */
const later = () => {
  let settle: (a: Answer) => void = () => undefined
  const promise = new Promise<Answer>((resolve) => (settle = resolve))
  return { promise, settle }
}
const abortedAt = (clock: ManualClock, keeper: KeepAlive): { at: number } => {
  const seen = { at: -1 }
  keeper.signal.addEventListener('abort', () => (seen.at = clock.now()))
  return seen
}

test('LeaseLostError says why the lease was lost', () => {
  const refused = new LeaseLostError('jobs', 'refused')
  assert.is(refused.message, 'Lease on jobs was lost: the store no longer holds our token')
  assert.is(refused.name, 'LeaseLostError')
  assert.is(new LeaseLostError('jobs', 'expired').message, 'Lease on jobs can no longer be proven valid: it expired before a renewal succeeded')
})

test('keepAlive renews once renewFraction of the validity has passed; a fraction outside (0, 1) means 1/3', async () => {
  const cases: Array<[KeepAliveOptions['renewFraction'], number]> = [
    [0.5, 500],
    [undefined, 1_000 / 3],
    [0, 1_000 / 3],
    [-1, 1_000 / 3],
    [1, 1_000 / 3],
    [7, 1_000 / 3]
  ]
  for (const [renewFraction, expected] of cases) {
    const clock = new ManualClock()
    const { renewer: r, extends: sent } = renewer(clock)
    const keeper = keepAlive(r, leaseAt(0), renewFraction === undefined ? {} : { renewFraction })
    await runUntil(clock, () => sent.length > 0)
    await keeper.stop()
    assert.is(sent[0], expected, `renewFraction ${renewFraction}`)
  }
})

test('keepAlive does not renew early when its clock wakes it before the renewal is due', async () => {
  const inner = new ManualClock()
  const early: Clock = { now: inner.now, sleep: (ms, signal) => inner.sleep(ms > 1 ? ms - 1 : ms, signal) }
  const { renewer: r, extends: sent } = renewer(early)
  const keeper = keepAlive(r, leaseAt(0))
  await runUntil(inner, () => sent.length > 0)
  await keeper.stop()
  assert.is(sent[0], 1_000 / 3)
})

test('keepAlive retries a failed renewal after a third of the validity left', async () => {
  const clock = new ManualClock()
  const { renewer: r, extends: sent } = renewer(clock, [() => Promise.resolve(E.left(driverFailure('k', 'down', true)))])
  const keeper = keepAlive(r, leaseAt(0))
  await runUntil(clock, () => sent.length > 1)
  await keeper.stop()
  const first = 1_000 / 3
  assert.equal(sent, [first, first + (1_000 - first) / 3])
  assert.is(keeper.signal.aborted, false)
})

test('keepAlive sends no renewal once the lease is no longer valid, even when a retry falls due just then', async () => {
  const clock = new ManualClock()
  const failure = driverFailure('k', 'down', true)
  const { renewer: r, extends: sent } = renewer(clock, [() => Promise.resolve(E.left(failure))])
  // Renews at 999; the retry of a renewal that failed 1 ms before the end falls due at 1000, the end.
  const keeper = keepAlive(r, leaseAt(0), { renewFraction: 0.999 })
  const seen = abortedAt(clock, keeper)
  await runUntil(clock, () => keeper.signal.aborted, 5_000)
  await keeper.stop()
  assert.equal(sent, [999])
  assert.is(seen.at, 1_000)
  assert.is((keeper.signal.reason as LeaseLostError).why, 'expired')
  assert.is((keeper.signal.reason as LeaseLostError).lastError, failure)
})

test('a renewal that outlives the lease: the signal fires at the lease\'s end, and the late answer is adopted if it is a lease', async () => {
  for (const late of [E.right(leaseAt(1_200)), E.left(notHeld('k'))] as const) {
    const clock = new ManualClock()
    const answer = later()
    const { renewer: r } = renewer(clock, [() => answer.promise])
    const lease = leaseAt(0)
    const keeper = keepAlive(r, lease)
    const seen = abortedAt(clock, keeper)
    await runUntil(clock, () => keeper.signal.aborted)
    assert.is(seen.at, 1_000)
    assert.is((keeper.signal.reason as LeaseLostError).why, 'expired')
    clock.advance(200)
    answer.settle(late)
    await ticks()
    const expected = E.isRight(late) ? late.right : lease
    assert.is(keeper.current(), expected)
    assert.is(await keeper.stop(), expected)
  }
})

test('a keeper first adopts the lease its confirmation answers, and renews that one', async () => {
  const clock = new ManualClock()
  const confirmed = leaseAt(0, 3_000)
  const { renewer: r, extends: sent } = renewer(clock, [], () => Promise.resolve(E.right(confirmed)))
  const keeper = keepAlive(r, leaseAt(0))
  await ticks()
  assert.is(keeper.current(), confirmed)
  await runUntil(clock, () => sent.length > 0)
  await keeper.stop()
  assert.equal(sent, [1_000])
})

test('a confirmation refused by the store fires the signal at once as "refused"; a failed one is retried by renewals', async () => {
  const clock = new ManualClock()
  const refusal = notHeld('k')
  const refused = renewer(clock, [], () => Promise.resolve(E.left(refusal)))
  const keeper = keepAlive(refused.renewer, leaseAt(0))
  await ticks()
  assert.ok(keeper.signal.aborted)
  assert.is((keeper.signal.reason as LeaseLostError).why, 'refused')
  assert.is((keeper.signal.reason as LeaseLostError).lastError, refusal)
  await runUntil(clock, () => false, 2_000)
  assert.equal(refused.extends, [])
  await keeper.stop()

  const failing = renewer(clock, [], () => Promise.resolve(E.left(driverFailure('k', 'down', true))))
  const start = clock.now()
  const kept = keepAlive(failing.renewer, leaseAt(start))
  await runUntil(clock, () => failing.extends.length > 0)
  await kept.stop()
  assert.is(kept.signal.aborted, false)
  assert.equal(failing.extends, [start + 1_000 / 3])
})

test('a confirmation that outlives the lease fires the signal, and nothing is renewed after it', async () => {
  const clock = new ManualClock()
  const answer = later()
  const { renewer: r, extends: sent } = renewer(clock, [], () => answer.promise)
  const keeper = keepAlive(r, leaseAt(0))
  const seen = abortedAt(clock, keeper)
  await runUntil(clock, () => keeper.signal.aborted)
  assert.is(seen.at, 1_000)
  answer.settle(E.right(leaseAt(1_000, 10_000)))
  await runUntil(clock, () => false, 20_000)
  assert.equal(sent, [])
  await keeper.stop()
})

test('stop() at the moment a renewal falls due sends no renewal, and fires no signal', async () => {
  for (const at of [1_000 / 3, 1_000]) {
    const clock = new ManualClock()
    const { renewer: r, extends: sent } = renewer(clock)
    const keeper = keepAlive(r, leaseAt(0), { autoRenew: at < 1_000 })
    await ticks()
    clock.advance(at)
    const stopped = keeper.stop()
    await stopped
    await ticks()
    assert.equal(sent, [], `stopped at ${at}`)
    assert.is(keeper.signal.aborted, false, `stopped at ${at}`)
  }
})

test('a keeper adopts the watched extend sent last, whatever order the answers come in, and follows nothing once stopped', async () => {
  const clock = new ManualClock()
  const base = renewer(clock).renewer
  const watchers = new Set<(l: Lease) => void>()
  const watched: Renewer = {
    ...base,
    watch: (_lease, onExtended) => {
      watchers.add(onExtended)
      return () => watchers.delete(onExtended)
    }
  }
  const keeper = keepAlive(watched, leaseAt(0, 10_000))
  const answer = (l: Lease): void => watchers.forEach((f) => f(l))
  const sentLater = leaseAt(20, 10_000)
  const sentEarlier = leaseAt(10, 60_000)
  answer(sentLater)
  answer(sentEarlier)
  assert.is(keeper.current(), sentLater, 'the answer to the earlier request came last: not adopted')
  await keeper.stop()
  assert.is(watchers.size, 0, 'stop() unwatches')
  answer(leaseAt(30, 10_000))
  assert.is(keeper.current(), sentLater, 'a stopped keeper follows nothing')
})

test.run()
