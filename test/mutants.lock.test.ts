// Tests written from the mutation run's survivors (see the README's Development section):
// what the lock gives back, when it leaves a queue, how it answers an abort,
// and which handovers queued waiting answers early, on stores that record
// every request and answer as told.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { makeClaims } from '../src/Claims.js'
import { ManualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { Lease, driftMs } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, driverFailure, notHeld } from '../src/LockError.js'
import { queuedTries } from '../src/QueuedWait.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { Grant, Held, Queued, Store, WaitQueue } from '../src/Store.js'
import { MemoryStore, memoryStore } from '../adapters/memory.js'

const envOn = (clock: ManualClock): Environment => {
  let n = 0
  return { clock, random: () => 0.5, token: () => `token-${n++}` }
}
const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
/** Whether `p` settled after a few ticks (no time passes on the manual clock). */
const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  void p.then(
    () => (done = true),
    () => (done = true)
  )
  await ticks()
  return done
}
/** Runs timers one by one until `p` settles. */
const drive = async <A>(clock: ManualClock, p: Promise<A>): Promise<A> => {
  while (!(await settled(p))) if (!clock.advanceToNext()) break
  return p
}
const grant = (fence: bigint, validityMs: number): Grant => ({ fence, validityMs, revision: `rev-${fence}` })
const waiting = (seen: bigint): Queued => ({ _tag: 'Waiting', seen })

/** A store whose operations answer as told, recording the releases. */
const scripted = (acquire: () => Promise<E.Either<LockError, O.Option<Grant>>>) => {
  const released: Held[] = []
  const store: Store = {
    name: 'scripted',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: () => acquire,
    release: (held) => () => {
      released.push(held)
      return Promise.resolve(E.right(true))
    },
    extend: () => TE.right(O.none)
  }
  return { store, released }
}

test('an attempt whose outcome is unknown is given back by its own token; a failure known not to apply is not', async () => {
  const clock = new ManualClock()
  const unknown = scripted(() => Promise.resolve(E.left(driverFailure('k', 'reply lost', true))))
  const r = await makeLock(unknown.store, { env: envOn(clock) }).tryAcquire('k', 1_000)()
  assert.is(E.isLeft(r) && r.left._tag, 'DriverFailure')
  assert.equal(unknown.released, [{ key: 'k', token: 'token-0', revision: '' }])

  const refused = scripted(() => Promise.resolve(E.left(driverFailure('k', 'refused', false))))
  await makeLock(refused.store, { env: envOn(clock) }).tryAcquire('k', 1_000)()
  assert.equal(refused.released, [])
})

test('a grant whose validity is spent on arrival is no lease: it is given back with its revision', async () => {
  const clock = new ManualClock()
  const spent = scripted(() => Promise.resolve(E.right(O.some(grant(4n, 5)))))
  const r = await makeLock(spent.store, { env: envOn(clock) }).tryAcquire('k', 1_000)()
  assert.equal(r, E.right(O.none))
  assert.equal(spent.released, [{ key: 'k', token: 'token-0', revision: 'rev-4' }])
})

test('a signal aborted while the attempt is being sent answers Aborted at once, and the grant is released', async () => {
  const clock = new ManualClock()
  const controller = new AbortController()
  const { store, released } = scripted(() => {
    controller.abort('stop')
    return Promise.resolve(E.right(O.some(grant(1n, 1_000))))
  })
  const r = await makeLock(store, { env: envOn(clock) }).acquire('k', 1_000, 1_000, { signal: controller.signal })()
  assert.is(E.isLeft(r) && r.left._tag, 'Aborted')
  await ticks()
  assert.equal(
    released.map(({ key, token, revision }) => ({ key, token, revision })),
    [{ key: 'k', token: 'token-0', revision: 'rev-1' }]
  )
})

test('a store that rejects leaves nothing behind that a later abort could turn into an unhandled rejection', async () => {
  const clock = new ManualClock()
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  try {
    const controller = new AbortController()
    const { store } = scripted(() => Promise.reject(new Error('broken store')))
    const r = makeLock(store, { env: envOn(clock) }).acquire('k', 1_000, 1_000, { signal: controller.signal })()
    await r.then(
      () => assert.unreachable('a rejecting store makes acquire reject'),
      (e: unknown) => assert.is((e as Error).message, 'broken store')
    )
    controller.abort()
    await ticks()
    assert.equal(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

/** A memory store whose queue requests can be observed, failed or held back. */
const queued = (clock: ManualClock, hooks: Partial<WaitQueue> = {}) => {
  const base = memoryStore({ clock })
  const events: string[] = []
  const queue = base.queue!
  const store: MemoryStore = {
    ...base,
    queue: {
      acquireOrEnqueue: (...args) => {
        events.push('enqueue')
        return (hooks.acquireOrEnqueue ?? queue.acquireOrEnqueue)(...args)
      },
      awaitHandoff: queue.awaitHandoff,
      poll: (...args) => () => {
        events.push('poll')
        return (hooks.poll ?? queue.poll)(...args)().then((r) => {
          events.push('polled')
          return r
        })
      },
      leave: (...args) => () => {
        events.push('leave')
        return (hooks.leave ?? queue.leave)(...args)()
      }
    }
  }
  return { base, store, events }
}

test('acquire with timeout 0 makes one plain attempt and never joins a queue', async () => {
  const clock = new ManualClock()
  const { base, store, events } = queued(clock)
  await base.acquire('k', 'holder', 10_000)()
  const r = await makeLock(store, { env: envOn(clock) }).acquire('k', 1_000, 0)()
  assert.is(E.isLeft(r) && r.left._tag, 'Timeout')
  assert.equal(events, [])
})

test('acquire with `confirmed` answers a handover only once its claim to the full TTL is through', async () => {
  const clock = new ManualClock()
  const { base, store } = queued(clock)
  await base.acquire('k', 'holder', 10_000)()
  const lock = makeLock(store, { env: envOn(clock), retry: constantDelay(1_000) })
  const waiter = lock.acquire('k', 10_000, 60_000, { confirmed: true })()
  await ticks()
  clock.advance(10)
  await base.release({ key: 'k', token: 'holder', revision: '' })()
  const lease = await drive(clock, waiter)
  assert.ok(E.isRight(lease))
  assert.is(lease.right.acquiredAt, 10)
  assert.is(lease.right.validUntil, 10 + 10_000 - driftMs(10_000))
})

test('a failing poll ends the wait with its error, and the queue is left', async () => {
  const clock = new ManualClock()
  const failure = driverFailure('k', 'down', false)
  const { base, store, events } = queued(clock, { poll: () => TE.left(failure) })
  await base.acquire('k', 'holder', 10_000)()
  const r = await drive(clock, makeLock(store, { env: envOn(clock), retry: constantDelay(10) }).acquire('k', 1_000, 1_000)())
  assert.equal(r, E.left(failure))
  await ticks()
  assert.equal(events, ['enqueue', 'poll', 'polled', 'leave'])
  assert.equal(base.queued('k'), [])
})

test('an abort during a poll answers at once, and the queue is left only after the poll came back', async () => {
  const clock = new ManualClock()
  let pollBack: () => void = () => undefined
  const { base, store, events } = queued(clock, {
    poll: (...args) => () => new Promise<void>((resolve) => (pollBack = resolve)).then(() => base.queue!.poll(...args)())
  })
  await base.acquire('k', 'holder', 10_000)()
  const controller = new AbortController()
  const r = makeLock(store, { env: envOn(clock), retry: constantDelay(10) }).acquire('k', 1_000, 1_000, { signal: controller.signal })()
  while (!events.includes('poll')) {
    await ticks()
    clock.advanceToNext()
  }
  controller.abort('stop')
  const answer = await r
  assert.is(E.isLeft(answer) && answer.left._tag, 'Aborted')
  await ticks()
  assert.equal(events, ['enqueue', 'poll'], 'nothing left while the poll is out')
  pollBack()
  await ticks()
  assert.equal(events, ['enqueue', 'poll', 'polled', 'leave'])
  assert.equal(base.queued('k'), [])
})

test('after a driver failure the answer does not wait for the leave; after any other failure it does', async () => {
  for (const failure of [driverFailure('k', 'down', false), notHeld('k')]) {
    const clock = new ManualClock()
    let leaveBack: () => void = () => undefined
    const { base, store } = queued(clock, {
      poll: () => TE.left(failure),
      leave: (...args) => () => new Promise<void>((resolve) => (leaveBack = resolve)).then(() => base.queue!.leave(...args)())
    })
    await base.acquire('k', 'holder', 10_000)()
    const r = makeLock(store, { env: envOn(clock), retry: constantDelay(10) }).acquire('k', 1_000, 1_000)()
    for (let i = 0; i < 5 && !(await settled(r)); i++) clock.advanceToNext()
    const answeredBeforeLeave = await settled(r)
    assert.is(answeredBeforeLeave, failure._tag === 'DriverFailure', failure._tag)
    leaveBack()
    assert.equal(await r, E.left(failure))
  }
})

/** Queued tries over a queue that answers as told. */
const triesOn = (clock: ManualClock, script: { enqueue?: Queued; polls?: Queued[]; handoff?: O.Option<Grant>; extend?: () => Promise<E.Either<LockError, O.Option<Grant>>> }, deadline = 10_000) => {
  const sent: Array<{ op: string; at: number; waitMs?: number; after?: bigint }> = []
  const released: Held[] = []
  const polls = [...(script.polls ?? [])]
  const queue: WaitQueue = {
    acquireOrEnqueue: (_key, _token, _ttl, waitMs) => () => {
      sent.push({ op: 'enqueue', at: clock.now(), waitMs })
      return Promise.resolve(E.right(script.enqueue ?? waiting(5n)))
    },
    awaitHandoff: (_key, _token, _ms, after) => {
      sent.push({ op: 'awaitHandoff', at: clock.now(), after })
      return Promise.resolve(script.handoff ?? O.none)
    },
    poll: (_key, _token, _ttl, waitMs) => () => {
      sent.push({ op: 'poll', at: clock.now(), waitMs })
      return Promise.resolve(E.right(polls.shift() ?? waiting(5n)))
    },
    leave: () => () => {
      sent.push({ op: 'leave', at: clock.now() })
      return Promise.resolve(E.right(undefined))
    }
  }
  const store: Store = {
    name: 'scripted',
    checkKey: E.right,
    checkTtl: E.right,
    acquire: () => TE.right(O.none),
    release: (held) => () => {
      released.push(held)
      return Promise.resolve(E.right(true))
    },
    extend: () => () => {
      sent.push({ op: 'extend', at: clock.now() })
      return script.extend?.() ?? Promise.resolve(E.right(O.some(grant(6n, 1_000))))
    },
    queue
  }
  const claims = makeClaims(clock)
  const tries = queuedTries({ env: envOn(clock), store, queue, claims }, 'k', 1_000, deadline, { confirmed: false })
  return { tries, sent, released, claims }
}
const someLease = (r: E.Either<LockError, O.Option<Lease>>): Lease => {
  if (E.isLeft(r) || O.isNone(r.right)) throw new Error(`expected a lease, got ${JSON.stringify(r)}`)
  return r.right.value
}

test('queued waiting: a handover counts from the latest request that saw a fence below it', async () => {
  // Sent at 0 seeing 5, at 100 seeing `seen`; handed fence 6 at 150. TTL and validity 1000, drift 12.
  for (const [seen, proof] of [
    [7n, 0],
    [6n, 0],
    [5n, 100]
  ] as const) {
    const clock = new ManualClock()
    const { tries } = triesOn(clock, { enqueue: waiting(5n), polls: [waiting(seen)], handoff: O.some(grant(6n, 1_000)) })
    await tries.first()
    clock.advance(100)
    await tries.next()
    clock.advance(50)
    const lease = someLease(await tries.wait(10, undefined))
    assert.is(lease.acquiredAt, proof, `second request saw ${seen}`)
    assert.is(lease.validUntil, proof + 1_000 - 12)
  }
})

test('queued waiting: a handover is answered early while exactly half its window is left, and polled for after that', async () => {
  for (const [at, early] of [
    [488, true],
    [489, false]
  ] as const) {
    const clock = new ManualClock()
    const { tries, sent } = triesOn(clock, { handoff: O.some(grant(6n, 1_000)) })
    await tries.first()
    clock.advance(at)
    const r = await tries.wait(10, undefined)
    assert.is(E.isRight(r) && O.isSome(r.right), early, `at ${at}`)
    assert.is(sent.some((s) => s.op === 'poll'), !early)
  }
})

test('queued waiting: a handover that no request of ours provably precedes is polled for, not answered', async () => {
  const clock = new ManualClock()
  const { tries, sent } = triesOn(clock, { enqueue: waiting(5n), handoff: O.some(grant(5n, 1_000)) })
  await tries.first()
  assert.equal(await tries.wait(10, undefined), E.right(O.none))
  assert.equal(
    sent.map((s) => s.op),
    ['enqueue', 'awaitHandoff', 'poll']
  )
})

test('queued waiting: a handover that arrives after an abort is not answered, and not claimed', async () => {
  const clock = new ManualClock()
  const { tries, sent } = triesOn(clock, { handoff: O.some(grant(6n, 1_000)) })
  await tries.first()
  const controller = new AbortController()
  controller.abort()
  assert.equal(await tries.wait(10, controller.signal), E.right(O.none))
  assert.equal(
    sent.map((s) => s.op),
    ['enqueue', 'awaitHandoff']
  )
})

test('queued waiting: a grant spent on arrival is given back, and the wait before the next poll is a plain sleep', async () => {
  const clock = new ManualClock()
  const { tries, sent, released } = triesOn(clock, { enqueue: { _tag: 'Granted', grant: grant(3n, 5) } })
  assert.equal(await tries.first(), E.right(O.none))
  assert.equal(released, [{ key: 'k', token: 'token-0', revision: 'rev-3' }])
  const waited = tries.wait(100, undefined)
  assert.is(await settled(waited), false)
  clock.advance(100)
  assert.equal(await waited, E.right(O.none))
  assert.equal(
    sent.map((s) => s.op),
    ['enqueue']
  )
})

test('queued waiting: a failed claim is what confirm answers; a claim that throws is an indeterminate driver failure', async () => {
  const failure = driverFailure('k', 'down', false)
  const thrown = new Error('broken store')
  for (const [extend, expected] of [
    [() => Promise.resolve(E.left(failure)), E.left(failure)],
    [() => Promise.reject(thrown), E.left(driverFailure('k', thrown, true))]
  ] as const) {
    const clock = new ManualClock()
    const { tries, claims } = triesOn(clock, { handoff: O.some(grant(6n, 1_000)), extend })
    await tries.first()
    const early = someLease(await tries.wait(10, undefined))
    assert.equal(await claims.settle(early), expected)
  }
})

test('queued waiting: the queue is left only if it was joined', async () => {
  const clock = new ManualClock()
  const never = triesOn(clock, {})
  await never.tries.abandon()
  assert.equal(never.sent, [])
  const joined = triesOn(clock, {})
  await joined.tries.first()
  await joined.tries.abandon()
  assert.equal(
    joined.sent.map((s) => s.op),
    ['enqueue', 'leave']
  )
})

test('queued waiting: each request asks the queue to keep us until the deadline (at least 1 ms)', async () => {
  const clock = new ManualClock(100)
  const { tries, sent } = triesOn(clock, {}, 350)
  await tries.first()
  clock.advance(99.5)
  await tries.next()
  clock.advance(200)
  await tries.next()
  assert.equal(
    sent.map((s) => s.waitMs),
    [250, 151, 1]
  )
})


test('waiters of one lock for one key take one place in the store queue; one whose turn never comes times out having sent nothing, or answers its abort', async () => {
  const clock = new ManualClock(1_000)
  const { base, store, events } = queued(clock)
  await base.acquire('k', 'holder', 10_000)()
  const lock = makeLock(store, { env: envOn(clock), retry: constantDelay(1_000) })
  const first = lock.acquire('k', 1_000, 5_000)()
  await ticks()
  const controller = new AbortController()
  const second = lock.acquire('k', 1_000, 200)()
  const third = lock.acquire('k', 1_000, 5_000, { signal: controller.signal })()
  await ticks()
  assert.equal(base.queued('k'), ['token-0'], 'one place in the store queue')
  clock.advance(150)
  controller.abort('stop')
  const aborted = await third
  assert.is(E.isLeft(aborted) && aborted.left._tag, 'Aborted')
  clock.advance(50)
  const timedOut = await second
  assert.ok(E.isLeft(timedOut) && timedOut.left._tag === 'Timeout')
  assert.is(timedOut.left.attempts, 0)
  assert.is(timedOut.left.waitedMs, 200)
  assert.equal(events, ['enqueue'], 'only the first waiter sent anything')
  await base.release({ key: 'k', token: 'holder', revision: '' })()
  assert.ok(E.isRight(await drive(clock, first)))
})
test('watch: every watcher of a lease hears its extends until it unwatches; the others keep hearing them', async () => {
  const clock = new ManualClock()
  const lock = makeLock(memoryStore({ clock, handoff: false }), { env: envOn(clock) })
  const acquired = await lock.acquire('k', 1_000, 0)()
  assert.ok(E.isRight(acquired))
  const heard: string[] = []
  const unwatchA = lock.watch(acquired.right, (l) => heard.push(`a:${l.ttlMs}`))
  const unwatchB = lock.watch({ ...acquired.right }, (l) => heard.push(`b:${l.ttlMs}`))
  assert.ok(E.isRight(await lock.extend(acquired.right, 2_000)()))
  unwatchA()
  assert.ok(E.isRight(await lock.extend(acquired.right, 3_000)()))
  unwatchB()
  assert.ok(E.isRight(await lock.extend(acquired.right, 4_000)()))
  const again = lock.watch(acquired.right, (l) => heard.push(`c:${l.ttlMs}`))
  unwatchB()
  assert.ok(E.isRight(await lock.extend(acquired.right, 5_000)()), 'a stale unwatch leaves a later watcher alone')
  again()
  assert.equal(heard, ['a:2000', 'b:2000', 'b:3000', 'c:5000'])
})

test('without a wait queue, waiters of one lock on one key each poll: none waits for its turn behind another', async () => {
  const clock = new ManualClock()
  const store = memoryStore({ clock, handoff: false })
  const holder = await makeLock(store, { env: envOn(clock) }).acquire('k', 10_000, 0)()
  assert.ok(E.isRight(holder))
  const lock = makeLock(store, { env: envOn(clock), retry: constantDelay(50) })
  const first = lock.acquire('k', 1_000, 1_000)()
  const second = lock.acquire('k', 1_000, 300)()
  const r = await drive(clock, second)
  assert.ok(E.isLeft(r) && r.left._tag === 'Timeout' && r.left.attempts > 1, `the second waiter polled on its own: ${JSON.stringify(r)}`)
  assert.ok(E.isLeft(await drive(clock, first)))
})

test.run()
