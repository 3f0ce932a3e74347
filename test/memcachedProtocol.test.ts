import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { driverError } from '../src/Driver.js'
import { makeLock } from '../src/Lock.js'
import type { LockError } from '../src/LockError.js'
import { MAX_EXPIRATION_SECONDS, checkMemcachedTtl, expirySeconds, validityMs } from '../src/memcached/expiry.js'
import { MAX_KEY_SIZE, checkMemcachedKey } from '../src/memcached/keys.js'
import { MemcachedDriver, memcachedStore } from '../src/memcached/memcachedStore.js'
import {
  CasDisabledError,
  MemcachedRequest,
  MemcachedResponse,
  Opcode,
  Status,
  StatusError,
  addRequest,
  decodeAdd,
  decodeDelete,
  decodeGet,
  decodeSet,
  getRequest,
  noopRequest,
  storageExtras
} from '../src/memcached/protocol.js'

const empty = new Uint8Array(0)
const res = (status: number, cas = 0n, value: Uint8Array = empty): MemcachedResponse => ({ status, cas, value })
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const causeOf = (e: E.Either<LockError, unknown>): unknown => (E.isLeft(e) && e.left._tag === 'DriverFailure' ? e.left.cause : undefined)
const indeterminate = (e: E.Either<LockError, unknown>): boolean | undefined =>
  E.isLeft(e) && e.left._tag === 'DriverFailure' ? e.left.indeterminate : undefined

/** A driver that answers from a script and records what it was sent. */
const scripted = (answer: (req: MemcachedRequest) => MemcachedResponse) => {
  const sent: Array<MemcachedRequest> = []
  const driver: MemcachedDriver = {
    send: (req) => {
      sent.push(req)
      return TE.right(answer(req))
    }
  }
  return { driver, sent }
}

const P = suite('memcached protocol')

P('requests: ADD carries flags 0 and the expiry, the token as value, no CAS', () => {
  const req = addRequest('jobs:1', 'tok', 7)
  assert.is(req.opcode, Opcode.Add)
  assert.is(req.key, 'jobs:1')
  assert.equal([...req.extras], [0, 0, 0, 0, 0, 0, 0, 7])
  assert.is(new TextDecoder().decode(req.value), 'tok')
  assert.is(req.cas, 0n)
  assert.equal([...storageExtras(2_592_000)], [0, 0, 0, 0, 0, 0x27, 0x8d, 0x00])
  assert.is(getRequest('k').opcode, Opcode.Get)
  assert.is(noopRequest.opcode, Opcode.Noop)
})

P('decodeAdd: stored -> some(cas); exists or not stored -> none; CAS 0 -> CasDisabledError, indeterminate', () => {
  assert.equal(decodeAdd('k')(res(Status.NoError, 42n)), E.right(O.some(42n)))
  assert.equal(decodeAdd('k')(res(Status.KeyExists)), E.right(O.none))
  assert.equal(decodeAdd('k')(res(Status.ItemNotStored)), E.right(O.none))
  const zero = decodeAdd('k')(res(Status.NoError, 0n))
  assert.instance(causeOf(zero), CasDisabledError)
  assert.is(indeterminate(zero), true)
  const oom = decodeAdd('k')(res(Status.OutOfMemory))
  assert.instance(causeOf(oom), StatusError)
  assert.is((causeOf(oom) as Error).message, 'memcached answered status 0x0082 (out of memory)')
  assert.is(indeterminate(oom), false)
})

P('decodeGet: found -> value and CAS; missing -> none; CAS 0 refused; other statuses fail', () => {
  assert.equal(decodeGet('k')(res(Status.NoError, 5n, text('tok'))), E.right(O.some({ value: 'tok', cas: 5n })))
  assert.equal(decodeGet('k')(res(Status.KeyNotFound)), E.right(O.none))
  assert.instance(causeOf(decodeGet('k')(res(Status.NoError, 0n, text('tok')))), CasDisabledError)
  assert.is(indeterminate(decodeGet('k')(res(Status.AuthError))), false)
  assert.is((causeOf(decodeGet('k')(res(0x1234))) as Error).message, 'memcached answered status 0x1234 (unknown status)')
})

P('decodeDelete and decodeSet: success, not ours, errors', () => {
  assert.equal(decodeDelete('k')(res(Status.NoError)), E.right(true))
  assert.equal(decodeDelete('k')(res(Status.KeyExists)), E.right(false))
  assert.equal(decodeDelete('k')(res(Status.KeyNotFound)), E.right(false))
  assert.ok(E.isLeft(decodeDelete('k')(res(Status.Busy))))
  assert.equal(decodeSet('k')(res(Status.NoError, 9n)), E.right(O.some(9n)))
  assert.equal(decodeSet('k')(res(Status.KeyExists)), E.right(O.none))
  assert.equal(decodeSet('k')(res(Status.KeyNotFound)), E.right(O.none))
  assert.instance(causeOf(decodeSet('k')(res(Status.NoError, 0n))), CasDisabledError)
  assert.ok(E.isLeft(decodeSet('k')(res(Status.ValueTooLarge))))
})

P('expiry: whole seconds rounded up, never 0', () => {
  assert.is(expirySeconds(1), 1)
  assert.is(expirySeconds(500), 1)
  assert.is(expirySeconds(1000), 1)
  assert.is(expirySeconds(1001), 2)
  assert.is(expirySeconds(1500), 2)
  assert.is(expirySeconds(2_592_000_000), MAX_EXPIRATION_SECONDS)
})

P('validity: N - 2 seconds for an N-second expiry, never negative, never over the TTL', () => {
  assert.is(validityMs(500), 0)
  assert.is(validityMs(1500), 0)
  assert.is(validityMs(2000), 0)
  assert.is(validityMs(2001), 1000)
  assert.is(validityMs(3000), 1000)
  assert.is(validityMs(10_000), 8000)
  for (let ttl = 1; ttl < 40_000; ttl += 37) {
    const v = validityMs(ttl)
    assert.ok(v >= 0 && v <= ttl && v <= Math.max(0, (expirySeconds(ttl) - 2) * 1000), `ttl ${ttl} -> ${v}`)
  }
})

P('TTL check: over 30 days (or the configured maximum) is InvalidArgument', () => {
  assert.ok(E.isRight(checkMemcachedTtl(MAX_EXPIRATION_SECONDS)(2_592_000_000)))
  const over = checkMemcachedTtl(MAX_EXPIRATION_SECONDS)(2_592_000_001)
  assert.ok(E.isLeft(over) && over.left._tag === 'InvalidArgument' && /30 days/.test(over.left.message))
  const configured = checkMemcachedTtl(60)(61_000)
  assert.ok(E.isLeft(configured) && configured.left._tag === 'InvalidArgument' && /limit of 60 s/.test(configured.left.message))
  assert.ok(E.isRight(checkMemcachedTtl(60)(60_000)))
})

P('key check: at most max_key_size UTF-8 bytes, no spaces or control characters', () => {
  const check = checkMemcachedKey(MAX_KEY_SIZE)
  assert.ok(E.isRight(check('a'.repeat(250))))
  assert.ok(E.isLeft(check('a'.repeat(251))))
  assert.ok(E.isRight(check('é'.repeat(125))))
  assert.ok(E.isLeft(check('é'.repeat(126))), '252 bytes in UTF-8')
  for (const bad of ['a b', 'a\tb', 'a\nb', 'a\rb', 'a\u0000b', 'a\u007fb', 'a\u0085b']) {
    const r = check(bad)
    assert.ok(E.isLeft(r) && r.left._tag === 'InvalidArgument' && /spaces or control/.test(r.left.message), JSON.stringify(bad))
  }
  assert.ok(E.isRight(check('jobs:nightly/ü-✓')))
  assert.ok(E.isLeft(checkMemcachedKey(10)('a'.repeat(11))))
})

const S = suite('memcached store over a scripted driver')

S('bad keys and TTLs are refused before any request is sent', async () => {
  const { driver, sent } = scripted(() => res(Status.NoError, 1n))
  const lock = makeLock(memcachedStore(driver, { maxKeySize: 20, maxExpirationSeconds: 100 }))
  for (const [key, ttl] of [['has space', 1000], ['x'.repeat(21), 1000], ['ok', 100_001], ['ok', 0], ['', 1000]] as const) {
    const r = await lock.tryAcquire(key, ttl)()
    assert.ok(E.isLeft(r) && r.left._tag === 'InvalidArgument', `${key} ${ttl}`)
  }
  assert.is(sent.length, 0)
  assert.ok(E.isRight(await lock.tryAcquire('ok', 100_000)()))
  assert.is(sent.length, 1)
  assert.is(sent[0]?.extras[7], 100)
})

S('options above memcached limits are capped at them', async () => {
  const { driver } = scripted(() => res(Status.NoError, 1n))
  const store = memcachedStore(driver, { maxKeySize: 1000, maxExpirationSeconds: 10 ** 9 })
  assert.ok(E.isLeft(store.checkKey('k'.repeat(251))))
  assert.ok(E.isLeft(store.checkTtl(2_592_001_000)))
})

S('acquire: the grant carries the CAS as revision and fence, and the clock-honest validity', async () => {
  const { driver } = scripted(() => res(Status.NoError, 123n))
  const grant = await memcachedStore(driver).acquire('k', 'tok', 5000)()
  assert.equal(grant, E.right(O.some({ fence: 123n, validityMs: 3000, revision: '123' })))
})

S('release checks the token with GET, then deletes with the CAS the GET answered', async () => {
  const { driver, sent } = scripted((req) => (req.opcode === Opcode.Get ? res(Status.NoError, 77n, text('mine')) : res(Status.NoError)))
  const store = memcachedStore(driver)
  assert.equal(await store.release({ key: 'k', token: 'mine', revision: '70' })(), E.right(true))
  assert.equal(sent.map((r) => [r.opcode, r.cas]), [[Opcode.Get, 0n], [Opcode.Delete, 77n]])
  sent.length = 0
  assert.equal(await store.release({ key: 'k', token: 'theirs', revision: '77' })(), E.right(false))
  assert.equal(sent.map((r) => r.opcode), [Opcode.Get], 'no DELETE for a foreign token')
})

S('extend checks the token, then SETs with the CAS; the new CAS is the new revision', async () => {
  const { driver, sent } = scripted((req) => (req.opcode === Opcode.Get ? res(Status.NoError, 5n, text('mine')) : res(Status.NoError, 6n)))
  const store = memcachedStore(driver)
  assert.equal(await store.extend({ key: 'k', token: 'mine', revision: '5' }, 4000)(), E.right(O.some({ fence: 6n, validityMs: 2000, revision: '6' })))
  assert.equal(sent.map((r) => [r.opcode, r.cas, r.extras[7]]), [[Opcode.Get, 0n, undefined], [Opcode.Set, 5n, 4]])
  assert.is(new TextDecoder().decode(sent[1]?.value), 'mine')
  sent.length = 0
  assert.equal(await store.extend({ key: 'k', token: 'other', revision: '5' }, 4000)(), E.right(O.none))
  assert.is(sent.length, 1)
})

S('a CAS-disabled server (CAS 0) never gets a DELETE or SET', async () => {
  const { driver, sent } = scripted((req) => (req.opcode === Opcode.Get ? res(Status.NoError, 0n, text('mine')) : res(Status.NoError, 0n)))
  const store = memcachedStore(driver)
  const acquired = await store.acquire('k', 'mine', 3000)()
  assert.instance(causeOf(acquired), CasDisabledError)
  assert.is(indeterminate(acquired), true, 'the ADD was stored: the key stays taken until it expires')
  assert.instance(causeOf(await store.release({ key: 'k', token: 'mine', revision: '0' })()), CasDisabledError)
  assert.instance(causeOf(await store.extend({ key: 'k', token: 'mine', revision: '0' }, 3000)()), CasDisabledError)
  assert.equal(sent.map((r) => r.opcode), [Opcode.Add, Opcode.Get, Opcode.Get])
})

S('transport failures become DriverFailure with the key and the driver’s indeterminacy', async () => {
  const failing: MemcachedDriver = { send: () => TE.left(driverError(new Error('ECONNRESET'), true)) }
  const r = await memcachedStore(failing).acquire('jobs', 't', 1000)()
  assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.key === 'jobs' && r.left.indeterminate)
})

P.run()
S.run()
