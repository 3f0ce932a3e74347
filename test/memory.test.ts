import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { VirtualClock } from '../src/Clock.js'
import { memoryStore } from '../adapters/memory.js'
import { conformance } from './support/conformance.js'

conformance('memory', async () => ({ store: memoryStore(), close: async () => undefined }), { ttlMs: 50, expiryWaitMs: 120 })

test('expired entries are dropped: size counts live keys only', async () => {
  const clock = new VirtualClock()
  const store = memoryStore({ clock })
  for (let i = 0; i < 10; i++) await store.acquire(`k${i}`, 't', 100 + i * 100)()
  assert.is(store.size(), 10)
  clock.advance(550)
  assert.is(store.size(), 5)
  clock.advance(10_000)
  assert.is(store.size(), 0)
})

test('the map is swept when it grows, so abandoned keys do not accumulate', async () => {
  const clock = new VirtualClock()
  const store = memoryStore({ clock })
  for (let i = 0; i < 5_000; i++) {
    await store.acquire(`k${i}`, 't', 10)()
    clock.advance(20)
  }
  const grant = await store.acquire('last', 't', 10)()
  assert.ok(E.isRight(grant) && O.isSome(grant.right))
  assert.is(store.size(), 1)
})

test('a key expires exactly at its TTL on the store clock', async () => {
  const clock = new VirtualClock()
  const store = memoryStore({ clock })
  await store.acquire('k', 'a', 100)()
  clock.advance(99)
  assert.equal(await store.acquire('k', 'b', 100)(), E.right(O.none))
  clock.advance(1)
  assert.ok(O.isSome((await store.acquire('k', 'b', 100)() as E.Right<O.Option<unknown>>).right))
})

test.run()
