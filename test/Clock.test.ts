import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { VirtualClock, realClock } from '../src/Clock.js'
import { liveEnvironment, randomToken } from '../src/Environment.js'

test('the virtual clock moves only by sleep and advance', async () => {
  const clock = new VirtualClock(5)
  assert.is(clock.now(), 5)
  await clock.sleep(100)
  assert.is(clock.now(), 105)
  clock.advance(-3)
  clock.advance(10)
  assert.is(clock.now(), 115)
  const signal = AbortSignal.abort()
  await clock.sleep(1000, signal)
  assert.is(clock.now(), 115, 'an aborted sleep does not move time')
})

test('the real clock is monotonic and sleeps about as long as asked', async () => {
  const t0 = realClock.now()
  await realClock.sleep(20)
  const elapsed = realClock.now() - t0
  assert.ok(elapsed >= 19, `slept ${elapsed} ms`)
  await realClock.sleep(0)
  await realClock.sleep(-5)
})

test('an abort cuts a real sleep short, and sleep never rejects', async () => {
  const controller = new AbortController()
  const t0 = realClock.now()
  setTimeout(() => controller.abort(new Error('stop')), 10)
  await realClock.sleep(5_000, controller.signal)
  assert.ok(realClock.now() - t0 < 1_000)
  await realClock.sleep(5_000, controller.signal)
  assert.ok(realClock.now() - t0 < 1_000, 'already aborted: returns at once')
})

test('tokens are 128-bit random, url-safe and distinct', () => {
  const tokens = new Set(Array.from({ length: 1000 }, randomToken))
  assert.is(tokens.size, 1000)
  for (const t of tokens) {
    assert.match(t, /^[A-Za-z0-9_-]{22}$/)
    assert.is(Buffer.from(t, 'base64url').length, 16)
  }
  assert.is(liveEnvironment.token().length, 22)
  const r = liveEnvironment.random()
  assert.ok(r >= 0 && r < 1)
})



test('the manual clock wakes sleepers only when advanced past their deadline', async () => {
  const { ManualClock } = await import('../src/Clock.js')
  const clock = new ManualClock(10)
  const woken: number[] = []
  void clock.sleep(100).then(() => woken.push(100))
  void clock.sleep(50).then(() => woken.push(50))
  const controller = new AbortController()
  void clock.sleep(1_000, controller.signal).then(() => woken.push(-1))
  clock.advance(49)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(woken, [])
  clock.advance(1)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(woken, [50])
  controller.abort()
  clock.advance(60)
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(woken.sort(), [-1, 100, 50].sort())
  assert.is(clock.pending(), 0)
  assert.is(clock.now(), 120)
  await clock.sleep(0)
  await clock.sleep(5, AbortSignal.abort())
})
test.run()
