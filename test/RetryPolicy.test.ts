import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import * as O from 'fp-ts/lib/Option.js'
import { concatAll } from 'fp-ts/lib/Monoid.js'
import {
  RetryPolicy,
  RetryPolicyMonoid,
  RetryStatus,
  capDelay,
  constantDelay,
  defaultRetryPolicy,
  defaultRetryStatus,
  exponentialBackoff,
  fullJitter,
  limitRetries,
  nextRetryStatus
} from '../src/RetryPolicy.js'

const statusAfter = (delays: ReadonlyArray<number>): RetryStatus => delays.reduce(nextRetryStatus, defaultRetryStatus)
const delays = (policy: RetryPolicy, n: number): Array<O.Option<number>> => {
  const out: Array<O.Option<number>> = []
  let status = defaultRetryStatus
  for (let i = 0; i < n; i++) {
    const d = policy(status)
    out.push(d)
    status = nextRetryStatus(status, O.getOrElse(() => 0)(d))
  }
  return out
}

test('nextRetryStatus counts retries and sums delays', () => {
  const s = statusAfter([10, 20, 30])
  assert.is(s.iterNumber, 3)
  assert.is(s.cumulativeDelay, 60)
  assert.equal(s.previousDelay, O.some(30))
})

test('constantDelay always answers the same delay', () => {
  assert.equal(delays(constantDelay(100), 3), [O.some(100), O.some(100), O.some(100)])
})

test('exponentialBackoff doubles from its base', () => {
  assert.equal(delays(exponentialBackoff(10), 4), [O.some(10), O.some(20), O.some(40), O.some(80)])
})

test('capDelay bounds every delay', () => {
  assert.equal(delays(capDelay(25)(exponentialBackoff(10)), 3), [O.some(10), O.some(20), O.some(25)])
})

test('limitRetries stops after n retries, and the monoid stops when either stops', () => {
  const policy = RetryPolicyMonoid.concat(constantDelay(7), limitRetries(2))
  assert.equal(delays(policy, 3), [O.some(7), O.some(7), O.none])
})

test('the monoid waits the longest delay and its empty is neutral', () => {
  const policy = concatAll(RetryPolicyMonoid)([constantDelay(5), constantDelay(9), RetryPolicyMonoid.empty])
  assert.equal(policy(defaultRetryStatus), O.some(9))
  fc.assert(
    fc.property(fc.nat(10_000), fc.nat(20), (d, i) => {
      const status = { ...defaultRetryStatus, iterNumber: i }
      const p = constantDelay(d)
      return (
        O.getOrElse(() => -1)(RetryPolicyMonoid.concat(p, RetryPolicyMonoid.empty)(status)) === d &&
        O.getOrElse(() => -1)(RetryPolicyMonoid.concat(RetryPolicyMonoid.empty, p)(status)) === d
      )
    })
  )
})

test('property: full jitter stays within [0, delay) for any random draw in [0, 1)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (d, r) => {
      const jittered = fullJitter(() => r)(constantDelay(d))(defaultRetryStatus)
      return O.isSome(jittered) && jittered.value >= 0 && jittered.value < d && Number.isInteger(jittered.value)
    })
  )
})

test('full jitter clamps a misbehaving random source into bounds', () => {
  assert.equal(fullJitter(() => -3)(constantDelay(100))(defaultRetryStatus), O.some(0))
  assert.equal(fullJitter(() => 7)(constantDelay(100))(defaultRetryStatus), O.some(100))
})

test('full jitter keeps a stop a stop', () => {
  assert.equal(fullJitter(() => 0.5)(limitRetries(0))(defaultRetryStatus), O.none)
})

test('defaultRetryPolicy: jittered backoff from 5 ms capped at 100 ms', () => {
  const top = defaultRetryPolicy(() => 0.999999)
  assert.equal(delays(top, 7).map(O.getOrElse(() => -1)), [4, 9, 19, 39, 79, 99, 99])
})

test.run()
