import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock } from '../src/Clock.js'
import { withDeadline } from '../src/compat/deadline.js'

test('work that answers in time wins and stops the timer', async () => {
  const clock = new ManualClock()
  const result = await withDeadline(clock, 100, () => 'late')(Promise.resolve('done'))
  assert.is(result, 'done')
  assert.is(clock.pending(), 0)
})

test('the deadline answers first, and a late answer goes to onLate', async () => {
  const clock = new ManualClock()
  const late: string[] = []
  let finish: (a: string) => void = () => undefined
  const pending = withDeadline(clock, 100, () => 'timed out', (a: string) => late.push(a))(new Promise((resolve) => (finish = resolve)))
  clock.advance(100)
  assert.is(await pending, 'timed out')
  finish('done')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(late, ['done'])
})

test('work that rejects fails the call instead of hanging, and stops the timer', async () => {
  const clock = new ManualClock()
  const broken = new Error('rejected')
  const outcome = await withDeadline(clock, 100, () => 'timed out')(Promise.reject(broken)).then(
    () => 'resolved',
    (e: unknown) => e
  )
  assert.is(outcome, broken)
  assert.is(clock.pending(), 0)
})

test.run()
