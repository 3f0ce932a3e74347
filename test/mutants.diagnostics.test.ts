// Tests written from the mutation run's survivors (see the README's Development section):
// the diagnostics events of the lock on the memory store, and the memory store's inspection.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { ManualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { unsupported } from '../src/Inspection.js'
import { keepAlive } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { code, driverFailure, notHeld, timeout } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { Grant, Store } from '../src/Store.js'
import { memoryStore } from '../adapters/memory.js'

const envOn = (clock: ManualClock): Environment => {
  let n = 0
  return { clock, random: () => 0.5, token: () => `token-${n++}` }
}
const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
/** Runs timers one by one until `p` settles. */
const drive = async <A>(clock: ManualClock, p: Promise<A>): Promise<A> => {
  for (;;) {
    let done = false
    void p.then(() => (done = true))
    await ticks()
    if (done || !clock.advanceToNext()) return p
  }
}
const lease = (r: E.Either<unknown, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error('expected a lease')
  return r.right
}

/** Runs `body` while recording the traced operations' contexts (as they end) and the published messages. */
const recording = async (body: () => Promise<void>) => {
  const traced: Array<Record<string, unknown>> = []
  const published: Array<[string, unknown]> = []
  const handlers = { asyncEnd: (context: object) => void traced.push({ ...(context as Record<string, unknown>) }) }
  const names = ['leaselock:acquire', 'leaselock:release', 'leaselock:extend'] as const
  const plain = ['leaselock:handoff', 'leaselock:lost', 'leaselock:giveback'] as const
  const listeners = plain.map((name) => [name, (message: unknown) => void published.push([name, message])] as const)
  for (const name of names) tracingChannel(name).subscribe(handlers as never)
  for (const [name, f] of listeners) subscribe(name, f)
  try {
    await body()
  } finally {
    for (const name of names) tracingChannel(name).unsubscribe(handlers as never)
    for (const [name, f] of listeners) unsubscribe(name, f)
  }
  const pick = (e: Record<string, unknown>, ...fields: string[]) => Object.fromEntries(fields.filter((f) => f in e).map((f) => [f, e[f]]))
  return { traced, published, pick }
}

test('diagnostics: tryAcquire, release and extend report what they did', async () => {
  const clock = new ManualClock()
  const lock = makeLock(memoryStore({ clock, handoff: false }), { env: envOn(clock) })
  const { traced, pick } = await recording(async () => {
    const held = await lock.tryAcquire('k', 1_000)()
    await lock.tryAcquire('k', 1_000)()
    if (!(E.isRight(held) && O.isSome(held.right))) throw new Error('expected a lease')
    const l = held.right.value
    const extended = lease(await lock.extend(l, 2_000)())
    await lock.release(extended)()
    await lock.release(extended)()
    await lock.extend(extended, 2_000)()
  })
  const fields = ['key', 'backend', 'operation', 'ttlMs', 'attempts', 'outcome', 'fence', 'error']
  assert.equal(
    traced.map((e) => pick(e, ...fields)),
    [
      { key: 'k', backend: 'memory', operation: 'tryAcquire', ttlMs: 1_000, attempts: 1, outcome: 'acquired', fence: 1n },
      { key: 'k', backend: 'memory', operation: 'tryAcquire', ttlMs: 1_000, attempts: 1, outcome: 'held' },
      { key: 'k', backend: 'memory', operation: 'extend', fence: 1n, outcome: 'extended' },
      { key: 'k', backend: 'memory', operation: 'release', fence: 1n, outcome: 'released' },
      { key: 'k', backend: 'memory', operation: 'release', fence: 1n, outcome: code(notHeld('k')), error: notHeld('k') },
      { key: 'k', backend: 'memory', operation: 'extend', fence: 1n, outcome: code(notHeld('k')), error: notHeld('k') }
    ]
  )
})

test('diagnostics: acquire reports its attempts, the time it waited, and how it ended', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock, handoff: false })
  const lock = makeLock(store, { env: envOn(clock), retry: constantDelay(100) })
  await store.acquire('k', 'holder', 250)()
  const { traced, pick } = await recording(async () => {
    await drive(clock, lock.acquire('k', 1_000, 150)())
    await drive(clock, lock.acquire('k', 1_000, 1_000)())
  })
  const fields = ['key', 'backend', 'operation', 'ttlMs', 'attempts', 'waitedMs', 'outcome', 'fence']
  assert.equal(
    traced.map((e) => pick(e, ...fields)),
    [
      { key: 'k', backend: 'memory', operation: 'acquire', ttlMs: 1_000, attempts: 3, waitedMs: 150, outcome: code(timeout('k', 3, 150)) },
      { key: 'k', backend: 'memory', operation: 'acquire', ttlMs: 1_000, attempts: 2, waitedMs: 100, outcome: 'acquired', fence: 2n }
    ]
  )
  assert.is((traced[0]!['error'] as { _tag: string })._tag, 'Timeout')
})

test('diagnostics: grants given back say why', async () => {
  const clock = new ManualClock()
  const answers: Array<E.Either<unknown, O.Option<Grant>>> = []
  const controller = new AbortController()
  let abortWhileSending = false
  const store: Store = {
    name: 'scripted',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: () => () => {
      if (abortWhileSending) controller.abort()
      return Promise.resolve(answers.shift() as E.Either<never, O.Option<Grant>>)
    },
    release: () => TE.right(true),
    extend: () => TE.right(O.none)
  }
  const lock = makeLock(store, { env: envOn(clock) })
  const { published } = await recording(async () => {
    answers.push(E.left(driverFailure('k', 'lost', true)))
    await lock.tryAcquire('k', 1_000)()
    answers.push(E.right(O.some({ fence: 1n, validityMs: 5, revision: '' })))
    await lock.tryAcquire('k', 1_000)()
    answers.push(E.right(O.some({ fence: 2n, validityMs: 1_000, revision: '' })))
    abortWhileSending = true
    await lock.acquire('k', 1_000, 1_000, { signal: controller.signal })()
    await ticks()
  })
  assert.equal(published, [
    ['leaselock:giveback', { key: 'k', backend: 'scripted', reason: 'unknown' }],
    ['leaselock:giveback', { key: 'k', backend: 'scripted', reason: 'spent' }],
    ['leaselock:giveback', { key: 'k', backend: 'scripted', reason: 'aborted' }]
  ])
})

test('diagnostics: handovers say whether they were answered early, and a lost lease says why', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  const lock = makeLock(store, { env: envOn(clock), retry: constantDelay(1_000) })
  const { published } = await recording(async () => {
    // Early: the release comes at once; late: less than half the claim TTL is provably left.
    for (const releaseAt of [10, 700]) {
      const holder = lease(await lock.acquire('k', 10_000, 0)())
      const waiting = lock.acquire('k', 10_000, 60_000)()
      await ticks()
      clock.advance(releaseAt)
      await lock.release(holder)()
      const next = lease(await waiting)
      await ticks()
      await lock.release(await lock.confirm(next)().then(lease))()
    }
    const held = lease(await lock.acquire('k', 1_000, 0)())
    const keeper = keepAlive(lock, held)
    await store.release(held)()
    clock.advance(400)
    await ticks()
    await keeper.stop()
  })
  const handoffs = published.filter(([name]) => name === 'leaselock:handoff').map(([, m]) => m as Record<string, unknown>)
  assert.equal(
    handoffs.map(({ key, backend, early }) => ({ key, backend, early })),
    [
      { key: 'k', backend: 'memory', early: true },
      { key: 'k', backend: 'memory', early: false }
    ]
  )
  assert.ok(handoffs.every((h) => typeof h['fence'] === 'bigint' && h['fence'] > 1n))
  assert.equal(
    published.filter(([name]) => name === 'leaselock:lost'),
    [['leaselock:lost', { key: 'k', fence: 5n, why: 'refused' }]]
  )
})

test('memory inspect: who holds a key, for how long, its fence, and how many still wait', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock })
  const free = await store.inspect!('k')()
  assert.equal(free, E.right({ key: 'k', held: false, remainingMs: E.right(0), fence: E.left(unsupported('memory', 'fence', 'the memory store keeps nothing of a key once it is free')), waiters: E.right(0) }))
  await store.acquire('k', 'holder', 1_000)()
  await store.queue!.acquireOrEnqueue('k', 'a', 1_000, 100)()
  await store.queue!.acquireOrEnqueue('k', 'b', 1_000, 10_000)()
  clock.advance(99.5)
  assert.equal(await store.inspect!('k')(), E.right({ key: 'k', held: true, remainingMs: E.right(901), fence: E.right(1n), waiters: E.right(2) }))
  clock.advance(0.5)
  const r = await store.inspect!('k')()
  assert.ok(E.isRight(r))
  assert.equal(r.right.waiters, E.right(1), 'a waiter whose wait ended is not counted')
})

test('diagnostics: a failed tryAcquire reports its error; a queued wait reports a spent grant it gives back', async () => {
  const clock = new ManualClock()
  const failure = driverFailure('k', 'down', false)
  const failing: Store = { name: 'failing', checkKey: E.right, checkTtl: E.right, acquire: () => TE.left(failure), release: () => TE.right(true), extend: () => TE.right(O.none) }
  const base = memoryStore({ clock })
  const spent: Store = {
    ...base,
    queue: { ...base.queue!, acquireOrEnqueue: () => TE.right({ _tag: 'Granted', grant: { fence: 1n, validityMs: 5, revision: '' } }) }
  }
  const { traced, published, pick } = await recording(async () => {
    await makeLock(failing, { env: envOn(clock) }).tryAcquire('k', 1_000)()
    const wait = makeLock(spent, { env: envOn(clock), retry: constantDelay(100) }).acquire('k', 1_000, 50)()
    await drive(clock, wait)
  })
  assert.equal(pick(traced[0]!, 'operation', 'outcome', 'error'), { operation: 'tryAcquire', outcome: code(failure), error: failure })
  assert.equal(published[0], ['leaselock:giveback', { key: 'k', backend: 'memory', reason: 'spent' }])
})

test('acquire on a store whose inspection fails still times out, with no holder named', async () => {
  const clock = new ManualClock()
  const base = memoryStore({ clock, handoff: false })
  await base.acquire('k', 'holder', 10_000)()
  const store: Store = { ...base, inspect: () => TE.left(driverFailure('k', 'down', false)) }
  const r = await makeLock(store, { env: envOn(clock) }).acquire('k', 1_000, 0)()
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout')
  assert.not.ok('holder' in r.left)
})

test('a keeper follows the extends of its own lease only', async () => {
  const clock = new ManualClock()
  const lock = makeLock(memoryStore({ clock, handoff: false }), { env: envOn(clock) })
  const a = lease(await lock.acquire('a', 1_000, 0)())
  const b = lease(await lock.acquire('b', 1_000, 0)())
  const keeper = keepAlive(lock, a)
  await ticks()
  clock.advance(10)
  const extendedB = lease(await lock.extend(b, 5_000)())
  await ticks()
  assert.is(keeper.current().key, 'a')
  const extendedA = lease(await lock.extend(a, 5_000)())
  await ticks()
  assert.is(keeper.current(), extendedA)
  await keeper.stop()
  assert.is(extendedB.key, 'b')
})

test.run()
