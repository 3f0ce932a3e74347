import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { randomToken } from '../../src/Environment.js'
import { makeLock } from '../../src/Lock.js'
import type { Grant, Store } from '../../src/Store.js'

/** A store under test and how to dispose of it. */
export interface StoreFixture {
  readonly store: Store
  readonly close: () => Promise<void>
}

/** How coarse the backend's TTLs are: a lock taken for `ttlMs` is free again `expiryWaitMs` later. */
export interface ConformanceOptions {
  readonly ttlMs: number
  readonly expiryWaitMs: number
  /**
   * The store's acquire is idempotent for its token (Redis: a command re-sent
   * after a failover must not be refused by its own first run): an acquire
   * with the holder's token answers the holder's grant again instead of none.
   */
  readonly idempotentAcquire?: boolean
}

const right = <A>(e: E.Either<unknown, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${JSON.stringify(e.left, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`)
  return e.right
}
const some = <A>(o: O.Option<A>, what: string): A => {
  if (O.isNone(o)) throw new Error(`${what}: expected some, got none`)
  return o.value
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The black-box behaviour every Store must show, run against a real backend.
 * Each backend's test file calls this once with its own fixture.
 */
export const conformance = (
  name: string,
  setup: () => Promise<StoreFixture>,
  options: ConformanceOptions = { ttlMs: 200, expiryWaitMs: 400 }
): void => {
  const { idempotentAcquire = false } = options
  const S = suite(`conformance: ${name}`)
  let fixture: StoreFixture | undefined
  let prefix = ''
  const store = (): Store => {
    if (fixture === undefined) throw new Error('fixture not set up')
    return fixture.store
  }
  let n = 0
  const freshKey = (): string => `${prefix}:${n++}`
  const acquire = async (key: string, token: string, ttlMs = 10_000): Promise<O.Option<Grant>> =>
    right(await store().acquire(key, token, ttlMs)(), 'acquire')

  S.before(async () => {
    fixture = await setup()
    prefix = `conformance-${randomToken()}`
  })
  S.after(async () => {
    await fixture?.close()
  })

  S('a free key is granted once; a held key is refused', async () => {
    const key = freshKey()
    const grant = some(await acquire(key, 'a'), 'acquire')
    assert.ok(O.isNone(await acquire(key, 'b')))
    const again = await acquire(key, 'a')
    if (idempotentAcquire) assert.is(some(again, 'the same acquire again').fence, grant.fence, 'the holder gets its own grant again, not a second one')
    else assert.ok(O.isNone(again), 'the holder itself cannot take the key twice')
  })

  S('the holder releases; the key is then free and a second release reports false', async () => {
    const key = freshKey()
    const grant = some(await acquire(key, 'a'), 'acquire')
    assert.is(right(await store().release({ key, token: 'a', revision: grant.revision })(), 'release'), true)
    assert.is(right(await store().release({ key, token: 'a', revision: grant.revision })(), 'release'), false)
    assert.ok(O.isSome(await acquire(key, 'b')))
  })

  S('a foreign token can neither release nor extend, and the holder keeps the key', async () => {
    const key = freshKey()
    const grant = some(await acquire(key, 'a'), 'acquire')
    // A foreign client never holds our revision: it presents its own token and a revision of its own.
    const foreign = { key, token: 'b', revision: 'forged' }
    assert.is(right(await store().release(foreign)(), 'release'), false)
    assert.ok(O.isNone(right(await store().extend(foreign, 10_000)(), 'extend')))
    assert.ok(O.isNone(await acquire(key, 'c')), 'still held')
    assert.is(right(await store().release({ key, token: 'a', revision: grant.revision })(), 'release'), true)
  })

  S('release and extend of a key nobody holds report false / none', async () => {
    const key = freshKey()
    assert.is(right(await store().release({ key, token: 'a', revision: '1' })(), 'release'), false)
    assert.ok(O.isNone(right(await store().extend({ key, token: 'a', revision: '1' }, 1000)(), 'extend')))
  })

  S('the holder extends; the extended grant still releases', async () => {
    const key = freshKey()
    const grant = some(await acquire(key, 'a'), 'acquire')
    const extended = some(right(await store().extend({ key, token: 'a', revision: grant.revision }, 20_000)(), 'extend'), 'extend')
    assert.ok(extended.validityMs > 0)
    assert.is(right(await store().release({ key, token: 'a', revision: extended.revision })(), 'release'), true)
  })

  S('fencing tokens grow with every acquisition of a key', async () => {
    const key = freshKey()
    let last = -1n
    for (let i = 0; i < 5; i++) {
      const token = `t${i}`
      const grant = some(await acquire(key, token), 'acquire')
      assert.ok(grant.fence > last, `fence ${grant.fence} > ${last}`)
      last = grant.fence
      assert.ok(right(await store().release({ key, token, revision: grant.revision })(), 'release'))
    }
  })

  S('a lease expires by itself after its TTL', async () => {
    const key = freshKey()
    const grant = some(await acquire(key, 'a', options.ttlMs), 'acquire')
    assert.ok(grant.validityMs <= options.ttlMs, 'validity never exceeds the TTL asked for')
    await sleep(options.expiryWaitMs)
    assert.ok(O.isSome(await acquire(key, 'b')), 'free after expiry')
    assert.is(right(await store().release({ key, token: 'a', revision: grant.revision })(), 'release'), false, 'the old holder cannot release the new one')
    assert.ok(O.isNone(await acquire(key, 'c')), 'the new holder keeps the key')
  })

  S('concurrent attempts on one key: exactly one wins', async () => {
    const key = freshKey()
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => acquire(key, `t${i}`)))
    assert.is(results.filter(O.isSome).length, 1)
  })

  S('through the lock core: acquire, a timed-out second acquire, withLock releases', async () => {
    const lock = makeLock(store())
    const key = freshKey()
    const lease = right(await lock.acquire(key, 10_000, 0)(), 'acquire')
    const second = await lock.acquire(key, 10_000, 50)()
    assert.ok(E.isLeft(second) && second.left._tag === 'Timeout')
    right(await lock.release(lease)(), 'release')
    const used = await lock.withLock(key, 10_000, { timeoutMs: 100 }, (l) => async () => E.right(l.fence))()
    assert.ok(E.isRight(used))
    assert.ok(O.isSome(right(await lock.tryAcquire(key, 1000)(), 'tryAcquire')), 'withLock released the key')
  })

  S.run()
}
