import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { driftMs, fromGrant, isValidAt } from '../src/Lease.js'

test('validity counts from the send time and subtracts the drift allowance', () => {
  const lease = fromGrant('k', 'tok', 3_000, 100, { fence: 7n, validityMs: 2_000, revision: 'r1' })
  assert.equal(lease, { key: 'k', token: 'tok', ttlMs: 3_000, acquiredAt: 100, validUntil: 100 + 2_000 - 32, fence: 7n, revision: 'r1' })
})

test('property: a lease is valid strictly before validUntil and never at or after it', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.nat(1_000_000), fc.integer({ min: -1_000, max: 20_000_000 }), (ttl, sentAt, dt) => {
      const lease = fromGrant('k', 't', ttl, sentAt, { fence: 1n, validityMs: ttl, revision: '' })
      const now = sentAt + dt
      return isValidAt(now)(lease) === now < sentAt + ttl - driftMs(ttl) && lease.validUntil < sentAt + ttl
    })
  )
})

test.run()
