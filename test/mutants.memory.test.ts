// Tests written from the mutation run's survivors (see the README's Development section):
// the memory store's queue, claim TTL, expiry boundary, and what it keeps.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { ManualClock } from '../src/Clock.js'
import type { Queued } from '../src/Store.js'
import { MemoryStore, memoryStore } from '../adapters/memory.js'

const right = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(`expected a Right, got ${JSON.stringify(r.left)}`)
  return r.right
}
const enqueue = async (store: MemoryStore, token: string, waitMs = 10_000): Promise<Queued> =>
  right(await store.queue!.acquireOrEnqueue('k', token, 10_000, waitMs)())
const poll = async (store: MemoryStore, token: string): Promise<Queued> => right(await store.queue!.poll('k', token, 10_000, 10_000)())
const release = (store: MemoryStore, token: string) => store.release({ key: 'k', token, revision: '' })()

test('memory: the claim TTL of a handover is the client\'s claimMs when it is a positive integer, else 1000', async () => {
  for (const [claimMs, expected] of [
    [undefined, 1_000],
    [300, 300],
    [0, 1_000],
    [-5, 1_000],
    [1.5, 1_000],
    [Number.NaN, 1_000]
  ] as const) {
    const clock = new ManualClock()
    const store = memoryStore({ clock, ...(claimMs === undefined ? {} : { claimMs }) })
    await store.acquire('k', 'holder', 10_000)()
    await enqueue(store, 'waiter')
    clock.advance(10)
    await release(store, 'holder')
    const held = store.holder('k')
    assert.ok(O.isSome(held), `claimMs ${claimMs}: handed over`)
    assert.is(held.value.token, 'waiter')
    assert.is(held.value.expiresAt, 10 + expected, `claimMs ${claimMs}`)
  }
})

test('memory: a key expires exactly at its TTL for size() too', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  await store.acquire('k', 't', 100)()
  clock.advance(99)
  assert.is(store.size(), 1)
  clock.advance(1)
  assert.is(store.size(), 0)
})

test('memory: acquireOrEnqueue takes a free key without queueing', async () => {
  const store = memoryStore({ clock: new ManualClock() })
  const r = await enqueue(store, 'a')
  assert.is(r._tag, 'Granted')
  const held = store.holder('k')
  assert.ok(O.isSome(held) && held.value.token === 'a')
  assert.equal(store.queued('k'), [])
})

test('memory: a waiter that polls keeps its one place in the queue', async () => {
  const store = memoryStore({ clock: new ManualClock() })
  await store.acquire('k', 'holder', 10_000)()
  await enqueue(store, 'a')
  assert.is((await poll(store, 'a'))._tag, 'Waiting')
  assert.equal(store.queued('k'), ['a'])
  await enqueue(store, 'b')
  await poll(store, 'b')
  await poll(store, 'a')
  assert.equal(store.queued('k'), ['a', 'b'])
})

test('memory: a waiter whose handover lapsed while another took the key is put back at the head of the queue', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  await store.acquire('k', 'holder', 10_000)()
  await enqueue(store, 'a')
  await enqueue(store, 'b')
  await release(store, 'holder')
  assert.equal(store.queued('k'), ['b'])
  clock.advance(1_000)
  await store.acquire('k', 'c', 10_000)()
  assert.is((await poll(store, 'a'))._tag, 'Waiting')
  assert.equal(store.queued('k'), ['a', 'b'])
})

test('memory: a release skips a waiter whose wait ended exactly now', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  await store.acquire('k', 'holder', 10_000)()
  await enqueue(store, 'a', 100)
  await enqueue(store, 'b', 10_000)
  clock.advance(100)
  await release(store, 'holder')
  const held = store.holder('k')
  assert.ok(O.isSome(held) && held.value.token === 'b')
})

test('memory: its name, and no holder for a key nobody holds', () => {
  const store = memoryStore()
  assert.is(store.name, 'memory')
  assert.equal(store.holder('nobody'), O.none)
})

/** A full collection, without `--expose-gc` on the command line: the flag exposes `gc` to new contexts. */
const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()
const heapAfterGc = async (): Promise<number> => {
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

test('memory: nothing is kept for keys that expired, nor for queues that emptied', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock, claimMs: 1 })
  /** A distinct 200-byte key name (a flat string, not a rope over a shared prefix). */
  const name = (prefix: string, i: number): string => {
    const bytes = Buffer.alloc(200, 'x')
    bytes.write(`${prefix}${i}`)
    return bytes.toString('latin1')
  }
  // More live keys than the first sweep threshold, then all expired.
  for (let i = 0; i < 1_100; i++) await store.acquire(name('live', i), 'h', 10)()
  clock.advance(10)
  const before = await heapAfterGc()
  const KEYS = 20_000
  for (let i = 0; i < KEYS; i++) {
    const key = name('', i)
    await store.acquire(key, 'h', 1)()
    await store.queue!.acquireOrEnqueue(key, 'w', 1, 1_000)()
    // Half the waiters leave; the other half are handed the key, which then expires unclaimed.
    if (i % 2 === 0) await store.queue!.leave(key, 'w')()
    else await store.release({ key, token: 'h', revision: '' })()
    clock.advance(2)
  }
  const grown = (await heapAfterGc()) - before
  // Each key kept (in the map, or as an empty queue) would hold its 200-byte name: over 2 MB for half of these.
  assert.ok(grown < 1_000_000, `the heap grew by ${grown} bytes over ${KEYS} expired keys`)
  assert.is(store.size(), 0)
})

test.run()
