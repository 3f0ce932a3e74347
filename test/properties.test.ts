import { test } from 'uvu'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { VirtualClock } from '../src/Clock.js'
import type { Environment } from '../src/Environment.js'
import { Lease, driftMs } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { RetryPolicyMonoid, constantDelay, defaultRetryPolicy, limitRetries } from '../src/RetryPolicy.js'
import type { Store } from '../src/Store.js'
import { memoryStore } from '../adapters/memory.js'

const testEnv = (clock: VirtualClock, random: () => number = () => 0.5): Environment => {
  let n = 0
  return { clock, random, token: () => `token-${n++}` }
}

/** Every store call goes out and comes back through the scheduler, so calls interleave in any order. */
const scheduledStore = (s: fc.Scheduler, store: Store, onGrant: (key: string, fence: bigint) => void): Store => ({
  ...store,
  acquire: (key, token, ttl) => () =>
    s
      .schedule(Promise.resolve(), `send acquire ${key}`)
      .then(() => store.acquire(key, token, ttl)())
      .then((r) => {
        if (E.isRight(r) && O.isSome(r.right)) onGrant(key, r.right.value.fence)
        return s.schedule(Promise.resolve(r), `reply acquire ${key}`)
      }),
  release: (held) => () =>
    s
      .schedule(Promise.resolve(), `send release ${held.key}`)
      .then(() => store.release(held)())
      .then((r) => s.schedule(Promise.resolve(r), `reply release ${held.key}`)),
  extend: (held, ttl) => () =>
    s
      .schedule(Promise.resolve(), `send extend ${held.key}`)
      .then(() => store.extend(held, ttl)())
      .then((r) => s.schedule(Promise.resolve(r), `reply extend ${held.key}`)),
  ...(store.queue === undefined
    ? {}
    : {
        queue: {
          ...store.queue,
          acquireOrEnqueue: (key, token, ttl, waitMs) => () =>
            s
              .schedule(Promise.resolve(), `send enqueue ${key}`)
              .then(() => store.queue!.acquireOrEnqueue(key, token, ttl, waitMs)())
              .then((r) => {
                if (E.isRight(r) && O.isSome(r.right)) onGrant(key, r.right.value.fence)
                return s.schedule(Promise.resolve(r), `reply enqueue ${key}`)
              }),
          poll: (key, token, ttl) => () =>
            s
              .schedule(Promise.resolve(), `send poll ${key}`)
              .then(() => store.queue!.poll(key, token, ttl)())
              .then((r) => s.schedule(Promise.resolve(r), `reply poll ${key}`))
        }
      })
})

type Op =
  | { readonly kind: 'acquire'; readonly key: string; readonly ttl: number }
  | { readonly kind: 'wait'; readonly key: string; readonly ttl: number; readonly timeout: number }
  | { readonly kind: 'release'; readonly key: string }
  | { readonly kind: 'extend'; readonly key: string; readonly ttl: number }
  | { readonly kind: 'advance'; readonly ms: number }

const keyArb = fc.constantFrom('a', 'b')
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), key: keyArb, ttl: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('wait' as const), key: keyArb, ttl: fc.integer({ min: 1, max: 300 }), timeout: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('release' as const), key: keyArb }),
  fc.record({ kind: fc.constant('extend' as const), key: keyArb, ttl: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 200 }) })
)

test('property (a): no two unexpired leases on a key ever coexist, and fences grow per key, under any interleaving of tries, queued waits with handoff, releases, extends and time', async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(fc.array(opArb, { maxLength: 12 }), { minLength: 2, maxLength: 4 }), async (s, clients) => {
      const clock = new VirtualClock()
      const lastFence = new Map<string, bigint>()
      const problems: string[] = []
      const store = scheduledStore(s, memoryStore({ clock }), (key, fence) => {
        if (fence <= (lastFence.get(key) ?? 0n)) problems.push(`fence ${fence} after ${lastFence.get(key)} on ${key}`)
        lastFence.set(key, fence)
      })
      const lock = makeLock(store, { env: testEnv(clock) })
      const held = clients.map(() => new Map<string, Lease>())
      const checkExclusion = (): void => {
        for (const key of ['a', 'b']) {
          const valid = held.filter((h) => (h.get(key)?.validUntil ?? -Infinity) > clock.now())
          if (valid.length > 1) problems.push(`${valid.length} valid leases on ${key} at ${clock.now()}`)
        }
      }
      const run = async (ops: ReadonlyArray<Op>, mine: Map<string, Lease>): Promise<void> => {
        for (const op of ops) {
          if (op.kind === 'advance') clock.advance(op.ms)
          else if (op.kind === 'acquire') {
            const r = await lock.tryAcquire(op.key, op.ttl)()
            if (E.isRight(r) && O.isSome(r.right)) mine.set(op.key, r.right.value)
          } else if (op.kind === 'wait') {
            if (mine.has(op.key)) continue
            const r = await lock.acquire(op.key, op.ttl, op.timeout)()
            if (E.isRight(r)) mine.set(op.key, r.right)
          } else {
            const lease = mine.get(op.key)
            if (lease === undefined) continue
            if (op.kind === 'release') {
              mine.delete(op.key)
              await lock.release(lease)()
            } else {
              // An extend resets the TTL, possibly to less than is left: while it is in flight,
              // the old lease proves only what both outcomes guarantee.
              mine.set(op.key, { ...lease, validUntil: Math.min(lease.validUntil, clock.now() + op.ttl - driftMs(op.ttl)) })
              const r = await lock.extend(lease, op.ttl)()
              if (E.isRight(r)) mine.set(op.key, r.right)
            }
          }
          checkExclusion()
        }
      }
      await s.waitFor(Promise.all(clients.map((ops, i) => run(ops, held[i]!))))
      checkExclusion()
      return problems.length === 0 || (console.error(problems, s.report()), false)
    }),
    { numRuns: 300 }
  )
})

test('property (b): a release or extend with a foreign or expired lease never changes the holder', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 1_000 }),
      fc.integer({ min: 0, max: 1_000 }),
      fc.integer({ min: 10, max: 1_000 }),
      fc.string({ minLength: 1 }),
      fc.array(fc.constantFrom('release-old', 'extend-old', 'release-forged', 'extend-forged'), { maxLength: 6 }),
      async (ttlOld, pastExpiry, ttlNew, forgedToken, attacks) => {
        const clock = new VirtualClock()
        const base = memoryStore({ clock })
        const lock = makeLock(base, { env: testEnv(clock) })
        const old = await lock.acquire('k', ttlOld, 0)()
        if (E.isLeft(old)) return false
        clock.advance(ttlOld + pastExpiry)
        const holder = await lock.acquire('k', ttlNew, 0)()
        if (E.isLeft(holder)) return false
        const start = clock.now()
        for (const attack of attacks) {
          const lease = attack.endsWith('old') ? old.right : { ...holder.right, token: forgedToken === holder.right.token ? `${forgedToken}!` : forgedToken }
          const r = attack.startsWith('release') ? await lock.release(lease)() : await lock.extend(lease, 10 * ttlNew)()
          if (!(E.isLeft(r) && r.left._tag === 'NotHeld')) return false
        }
        // The holder's key stays taken until exactly its own expiry, and it can still release it.
        clock.advance(ttlNew - 1 - (clock.now() - start))
        const during = await lock.tryAcquire('k', 1)()
        if (!(E.isRight(during) && O.isNone(during.right))) return false
        const extended = await lock.extend(holder.right, ttlNew)()
        if (E.isLeft(extended)) return false
        return E.isRight(await lock.release(extended.right)())
      }
    ),
    { numRuns: 300 }
  )
})

test('property (c): acquire makes at most n+1 attempts under limitRetries(n) and returns by its deadline plus one attempt, polling or queued', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat(20),
      fc.integer({ min: 0, max: 500 }),
      fc.nat(2_000),
      fc.integer({ min: 0, max: 50 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.boolean(),
      async (n, delay, timeoutMs, latency, r, handoff) => {
        const clock = new VirtualClock()
        const base = memoryStore({ clock, handoff })
        let attempts = 0
        const slowly =
          <A extends unknown[], R>(f: (...args: A) => TE.TaskEither<unknown, R>) =>
          (...args: A) =>
          async () => {
            attempts++
            await clock.sleep(latency)
            return f(...args)()
          }
        const slow: Store = {
          ...base,
          acquire: slowly(base.acquire) as Store['acquire'],
          ...(base.queue === undefined
            ? {}
            : { queue: { ...base.queue, acquireOrEnqueue: slowly(base.queue.acquireOrEnqueue), poll: slowly(base.queue.poll) } as NonNullable<Store['queue']> })
        }
        await base.acquire('k', 'someone-else', 1_000_000)()
        const policy = RetryPolicyMonoid.concat(defaultRetryPolicy(() => r), RetryPolicyMonoid.concat(constantDelay(delay), limitRetries(n)))
        const lock = makeLock(slow, { env: testEnv(clock), retry: policy })
        const t0 = clock.now()
        const result = await lock.acquire('k', 1_000, timeoutMs)()
        const elapsed = clock.now() - t0
        return (
          E.isLeft(result) &&
          result.left._tag === 'Timeout' &&
          result.left.attempts === attempts &&
          attempts >= 1 &&
          attempts <= n + 1 &&
          elapsed <= timeoutMs + latency
        )
      }
    ),
    { numRuns: 300 }
  )
})

test('property (d): the default policy\'s jittered delays stay within [0, min(100, 5·2^i))', () => {
  fc.assert(
    fc.property(fc.nat(30), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (i, r) => {
      const d = defaultRetryPolicy(() => r)({ iterNumber: i, cumulativeDelay: 0, previousDelay: O.none })
      const bound = Math.min(100, 5 * 2 ** i)
      return O.isSome(d) && d.value >= 0 && d.value < bound
    })
  )
})

type Outcome = 'right' | 'left' | 'throw' | 'reject'

test('property (e): withLock always releases, whatever use does and however long it takes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<Outcome>('right', 'left', 'throw', 'reject'),
      fc.integer({ min: 1, max: 2_000 }),
      fc.integer({ min: 0, max: 3_000 }),
      fc.boolean(),
      async (outcome, ttl, work, autoRenew) => {
        const clock = new VirtualClock()
        const store = memoryStore({ clock })
        const lock = makeLock(store, { env: testEnv(clock) })
        const use = (): TE.TaskEither<string, string> => async () => {
          await clock.sleep(work)
          if (outcome === 'throw') throw new Error('thrown')
          if (outcome === 'reject') return Promise.reject(new Error('rejected'))
          return outcome === 'right' ? E.right('ok') : E.left('failed')
        }
        let result: E.Either<unknown, string> | 'threw'
        try {
          result = await lock.withLock('k', ttl, { timeoutMs: 0, autoRenew }, use)()
        } catch {
          result = 'threw'
        }
        const expected = outcome === 'throw' || outcome === 'reject' ? result === 'threw' : outcome === 'left' ? E.isLeft(result as any) && (result as E.Left<unknown>).left === 'failed' : true
        return expected && store.size() === 0
      }
    ),
    { numRuns: 300 }
  )
})

test.run()
