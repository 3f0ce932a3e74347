import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { ManualClock } from '../src/Clock.js'
import { makeLocalLines } from '../src/LocalLine.js'
import { makeLock } from '../src/Lock.js'
import { constantDelay } from '../src/RetryPolicy.js'
import { memoryStore } from '../adapters/memory.js'

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

test('turns come in arrival order, one at a time, per key', async () => {
  const lines = makeLocalLines(new ManualClock())
  const order: string[] = []
  const first = await lines.enter('k', 1_000)
  const other = await lines.enter('other', 1_000)
  assert.ok(first !== undefined && other !== undefined, 'the first of each line goes at once')
  const waiting = ['a', 'b', 'c'].map((name) => lines.enter('k', 1_000).then((turn) => (order.push(name), turn)))
  await ticks()
  assert.equal(order, [], 'nobody overtakes the first')
  first.done()
  first.done()
  await ticks()
  assert.equal(order, ['a'], 'done twice passes the turn once')
  ;(await waiting[0])!.done()
  await ticks()
  ;(await waiting[1])!.done()
  await ticks()
  assert.equal(order, ['a', 'b', 'c'])
})

test('a waiter whose deadline passes or whose signal aborts leaves without holding up the others', async () => {
  const clock = new ManualClock()
  const lines = makeLocalLines(clock)
  const first = await lines.enter('k', 10_000)
  const late = lines.enter('k', 100)
  const controller = new AbortController()
  const aborted = lines.enter('k', 10_000, controller.signal)
  const patient = lines.enter('k', 10_000)
  clock.advance(100)
  controller.abort()
  assert.is(await late, undefined)
  assert.is(await aborted, undefined)
  first!.done()
  assert.ok((await patient) !== undefined, 'the turn skips those who left')
  assert.is(clock.pending(), 0, 'no sleeper left behind')
})

test('a lock\'s waiters on one key hold one place in the store\'s queue and are served in their order', async () => {
  const clock = new ManualClock()
  const server = memoryStore({ clock })
  let n = 0
  const lock = makeLock(server.client(), { env: { clock, random: () => 0.5, token: () => `w-${n++}` }, retry: constantDelay(60_000) })
  const holder = makeLock(server.client(), { env: { clock, random: () => 0.5, token: () => `h-${n++}` } })
  const held = await holder.acquire('k', 60_000, 0)()
  const order: number[] = []
  const waiters = [0, 1, 2].map((i) => lock.acquire('k', 10_000, 60_000)().then((r) => (order.push(i), r)))
  await ticks()
  assert.is(server.queued('k').length, 1, 'one place for three waiters')
  if (E.isRight(held)) await holder.release(held.right)()
  for (let i = 0; i < 3; i++) {
    const r = await waiters[i]!
    await ticks()
    if (E.isRight(r)) await lock.release(r.right)()
    await ticks()
  }
  assert.equal(order, [0, 1, 2])
  assert.equal(server.queued('k'), [])
})

test.run()
