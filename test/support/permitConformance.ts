/**
 * The PermitStore contract, as a suite any permit store must pass (memory and
 * Redis run it): admission under the smallest limit, FIFO order with a waiter
 * ahead, idempotent re-sent requests, fences, per-permit expiry, queue places
 * that lapse, release and extend of what is not held.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { randomToken } from '../../src/Environment.js'
import type { LockError } from '../../src/LockError.js'
import type { PermitRequest, PermitStore } from '../../src/permits/PermitStore.js'
import type { Grant } from '../../src/Store.js'

/** A store under test, and how to end it. */
export interface PermitSubject {
  readonly store: PermitStore
  readonly close: () => Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export const permitConformance = (name: string, open: () => Promise<PermitSubject>): void => {
  const S = suite(`PermitStore conformance: ${name}`)
  let subject: PermitSubject
  S.before(async () => {
    subject = await open()
  })
  S.after(async () => {
    await subject.close()
  })

  const fresh = (): string => `conf-${randomToken()}`
  const ask = async (r: Partial<PermitRequest> & { readonly key: string; readonly token: string }): Promise<O.Option<Grant>> => {
    const reply = await subject.store.acquire({ weight: 1, limit: 2, ttlMs: 5_000, waitMs: 0, ...r })()
    if (E.isLeft(reply)) throw new Error(`acquire failed: ${(reply.left as LockError)._tag}`)
    return reply.right
  }
  const fenceOf = (o: O.Option<Grant>): bigint => (O.isSome(o) ? o.value.fence : -1n)

  S('admits up to the limit, with growing fences; a re-sent request of a holder answers its own fence again', async () => {
    const key = fresh()
    const a = await ask({ key, token: 'a' })
    const b = await ask({ key, token: 'b' })
    assert.ok(O.isSome(a) && O.isSome(b) && fenceOf(b) > fenceOf(a))
    assert.ok(O.isNone(await ask({ key, token: 'c' })))
    assert.is(fenceOf(await ask({ key, token: 'a' })), fenceOf(a), 're-sent: same grant')
  })

  S('the smallest limit among the caller and the holders applies', async () => {
    const key = fresh()
    assert.ok(O.isSome(await ask({ key, token: 'a', limit: 1 })))
    assert.ok(O.isNone(await ask({ key, token: 'b', limit: 5 })))
    const other = fresh()
    assert.ok(O.isSome(await ask({ key: other, token: 'a', limit: 3 })))
    assert.ok(O.isSome(await ask({ key: other, token: 'b', limit: 2 })))
    assert.ok(O.isNone(await ask({ key: other, token: 'c', limit: 3 })), 'the holder under limit 2 caps it')
  })

  S('FIFO: a queued writer keeps later readers out; once the reader leaves, the writer gets in and the reader behind it waits', async () => {
    const key = fresh()
    const cap = 1_000
    assert.ok(O.isSome(await ask({ key, token: 'r1', limit: cap })))
    assert.ok(O.isNone(await ask({ key, token: 'w', weight: cap, limit: cap, waitMs: 5_000 })))
    assert.ok(O.isNone(await ask({ key, token: 'r2', limit: cap, waitMs: 5_000 })), 'behind the writer')
    assert.equal(await subject.store.release({ key, token: 'r1', revision: '' })(), E.right(true))
    assert.ok(O.isNone(await ask({ key, token: 'r2', limit: cap, waitMs: 5_000 })), 'still behind the writer')
    assert.ok(O.isSome(await ask({ key, token: 'w', weight: cap, limit: cap, waitMs: 5_000 })))
    assert.ok(O.isNone(await ask({ key, token: 'r2', limit: cap, waitMs: 5_000 })), 'the writer holds')
    await subject.store.release({ key, token: 'w', revision: '' })()
    assert.ok(O.isSome(await ask({ key, token: 'r2', limit: cap, waitMs: 5_000 })))
  })

  S('a waiter that leaves (release of its token) lets the one behind it in; releasing a queued-only token answers false', async () => {
    const key = fresh()
    assert.ok(O.isSome(await ask({ key, token: 'a', limit: 1 })))
    assert.ok(O.isNone(await ask({ key, token: 'b', limit: 1, waitMs: 5_000 })))
    assert.ok(O.isNone(await ask({ key, token: 'c', limit: 1, waitMs: 5_000 })))
    await subject.store.release({ key, token: 'a', revision: '' })()
    assert.ok(O.isNone(await ask({ key, token: 'c', limit: 1, waitMs: 5_000 })), 'b is ahead')
    assert.equal(await subject.store.release({ key, token: 'b', revision: '' })(), E.right(false))
    assert.ok(O.isSome(await ask({ key, token: 'c', limit: 1, waitMs: 5_000 })))
  })

  S('each permit expires alone after its TTL; a lapsed queue place stops blocking; extend and release of an expired permit find nothing', async () => {
    const key = fresh()
    assert.ok(O.isSome(await ask({ key, token: 'short', ttlMs: 150 })))
    assert.ok(O.isSome(await ask({ key, token: 'long' })))
    assert.ok(O.isNone(await ask({ key, token: 'w', weight: 2, limit: 2, ttlMs: 150, waitMs: 150 })), 'a writer queues for 150 ms')
    await sleep(250)
    assert.equal(await subject.store.extend({ key, token: 'short', revision: '' }, 5_000)(), E.right(O.none))
    assert.equal(await subject.store.release({ key, token: 'short', revision: '' })(), E.right(false))
    assert.ok(O.isSome(await ask({ key, token: 'next' })), 'the short permit freed its place, the lapsed writer no longer blocks')
    const long = await subject.store.extend({ key, token: 'long', revision: '' }, 5_000)()
    assert.ok(E.isRight(long) && O.isSome(long.right))
  })

  S.run()
}
