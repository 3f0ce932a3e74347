import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { DriverError, driverError } from '../src/Driver.js'
import { makeLock } from '../src/Lock.js'
import type { LockError } from '../src/LockError.js'
import { MAX_EXPIRATION_SECONDS, checkMemcachedTtl, expirySeconds, validityMs } from '../src/memcached/expiry.js'
import { MAX_KEY_SIZE, checkMemcachedKey } from '../src/memcached/keys.js'
import { MemcachedDriver, memcachedStore } from '../src/memcached/memcachedStore.js'
import {
  Cas,
  CasDisabledError,
  ConnectionChangedError,
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
  deleteRequest,
  getRequest,
  noopRequest,
  parseRevision,
  setRequest,
  showRevision,
  storageExtras
} from '../src/memcached/protocol.js'

const empty = new Uint8Array(0)
const res = (status: number, cas = 0n, value: Uint8Array = empty, connection?: number): MemcachedResponse => ({ status, cas, value, connection })
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const causeOf = (e: E.Either<LockError, unknown>): unknown => (E.isLeft(e) && e.left._tag === 'DriverFailure' ? e.left.cause : undefined)
const indeterminate = (e: E.Either<LockError, unknown>): boolean | undefined =>
  E.isLeft(e) && e.left._tag === 'DriverFailure' ? e.left.indeterminate : undefined

/** A driver that answers from a script and records what it was sent. */
const scripted = (answer: (req: MemcachedRequest) => MemcachedResponse | DriverError) => {
  const sent: Array<MemcachedRequest> = []
  const driver: MemcachedDriver = {
    send: (req) => {
      sent.push(req)
      const a = answer(req)
      return 'status' in a ? TE.right(a) : TE.left(a)
    }
  }
  return { driver, sent }
}

/** What was sent, as `[opcode, cas, connection]`. */
const wire = (sent: ReadonlyArray<MemcachedRequest>): Array<[number, bigint, number | undefined]> =>
  sent.map((r) => [r.opcode, r.cas, r.connection])

const changed = (connection: number): DriverError => driverError(new ConnectionChangedError(connection), false)

/**
 * A server reached over connection 7 (a request restricted to another one is
 * refused), whose item holds `token` with CAS `cas`: a DELETE or SET carrying
 * that CAS succeeds (a SET answers `cas + 1`), another CAS finds it exists.
 */
const server = (token: string, cas: bigint) =>
  scripted((req) => {
    if (req.connection !== undefined && req.connection !== 7) return changed(req.connection)
    if (req.opcode === Opcode.Get) return res(Status.NoError, cas, text(token), 7)
    return req.cas === cas ? res(Status.NoError, req.opcode === Opcode.Set ? cas + 1n : 0n, empty, 7) : res(Status.KeyExists, 0n, empty, 7)
  })

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

P('requests restricted to a connection carry it; others do not', () => {
  const cas = 9n as Cas
  assert.is(deleteRequest('k', cas, 4).connection, 4)
  assert.is(setRequest('k', 't', 3, cas, 0).connection, 0)
  assert.is(deleteRequest('k', cas).connection, undefined)
  assert.is(addRequest('k', 't', 3).connection, undefined)
  assert.is(new ConnectionChangedError(4).message, 'not sent: the request was restricted to connection 4, which is no longer the connection to its server')
})

P('revisions: <cas>@<connection> round-trips; anything else, CAS 0 or a CAS over 64 bits is no revision', () => {
  assert.equal(parseRevision('42@7'), { cas: 42n, connection: 7 })
  assert.equal(parseRevision('18446744073709551615@0'), { cas: 2n ** 64n - 1n, connection: 0 })
  assert.equal(parseRevision('5@9007199254740991'), { cas: 5n, connection: Number.MAX_SAFE_INTEGER })
  for (const bad of ['', '42', '@7', '42@', '0@7', '042@7', '42@07', '42@-1', '-42@7', '18446744073709551616@0', '5@9007199254740992', '4 2@7', '42@7 ', 'forged'])
    assert.is(parseRevision(bad), undefined, JSON.stringify(bad))
  for (const [cas, connection] of [[1n, 0], [123456789012345678n, 281474976710655]] as const)
    assert.equal(parseRevision(showRevision({ cas: cas as Cas, connection })), { cas, connection })
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

S('acquire: the grant carries the CAS as fence, <cas>@<connection> as revision, and the clock-honest validity', async () => {
  const { driver } = scripted(() => res(Status.NoError, 123n, empty, 7))
  const grant = await memcachedStore(driver).acquire('k', 'tok', 5000)()
  assert.equal(grant, E.right(O.some({ fence: 123n, validityMs: 3000, revision: '123@7' })))
  const { driver: nameless } = scripted(() => res(Status.NoError, 123n))
  assert.equal(await memcachedStore(nameless).acquire('k', 'tok', 5000)(), E.right(O.some({ fence: 123n, validityMs: 3000, revision: '123' })), 'a driver that names no connection: just the CAS')
})

S('release, fast path: one DELETE carrying the revision’s CAS on its connection; deleted -> true, not found -> false', async () => {
  const { driver, sent } = scripted(() => res(Status.NoError))
  assert.equal(await memcachedStore(driver).release({ key: 'k', token: 'mine', revision: '70@7' })(), E.right(true))
  assert.equal(wire(sent), [[Opcode.Delete, 70n, 7]])
  const gone = scripted(() => res(Status.KeyNotFound))
  assert.equal(await memcachedStore(gone.driver).release({ key: 'k', token: 'mine', revision: '70@7' })(), E.right(false))
  assert.equal(wire(gone.sent), [[Opcode.Delete, 70n, 7]], 'no GET: the key is gone')
})

S('release: another CAS, a changed connection or a revision that is not <cas>@<connection> take the verified path', async () => {
  const exists = server('mine', 77n)
  assert.equal(await memcachedStore(exists.driver).release({ key: 'k', token: 'mine', revision: '70@7' })(), E.right(true))
  assert.equal(wire(exists.sent), [[Opcode.Delete, 70n, 7], [Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 7]], 'GET, then DELETE with its CAS on its connection')
  const moved = server('mine', 77n)
  assert.equal(await memcachedStore(moved.driver).release({ key: 'k', token: 'mine', revision: '77@3' })(), E.right(true))
  assert.equal(wire(moved.sent), [[Opcode.Delete, 77n, 3], [Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 7]])
  for (const revision of ['77', '', 'forged', '0@7']) {
    const plain = server('mine', 77n)
    assert.equal(await memcachedStore(plain.driver).release({ key: 'k', token: 'mine', revision })(), E.right(true))
    assert.equal(wire(plain.sent), [[Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 7]], JSON.stringify(revision))
  }
  const foreign = server('theirs', 77n)
  assert.equal(await memcachedStore(foreign.driver).release({ key: 'k', token: 'mine', revision: '70@7' })(), E.right(false))
  assert.equal(wire(foreign.sent), [[Opcode.Delete, 70n, 7], [Opcode.Get, 0n, undefined]], 'no DELETE once the token differs')
})

S('release: a transport failure of the fast DELETE is answered as it is, without a GET', async () => {
  const { driver, sent } = scripted(() => driverError(new Error('ECONNRESET'), true))
  const r = await memcachedStore(driver).release({ key: 'k', token: 'mine', revision: '70@7' })()
  assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.indeterminate && r.left.key === 'k')
  assert.is(sent.length, 1)
})

S('the verified path: a connection that changed between GET and DELETE means GET again, once', async () => {
  let gets = 0
  const once = scripted((req) => {
    if (req.opcode === Opcode.Get) return res(Status.NoError, 77n, text('mine'), ++gets)
    return req.connection === 1 ? changed(1) : res(Status.NoError)
  })
  assert.equal(await memcachedStore(once.driver).release({ key: 'k', token: 'mine', revision: '' })(), E.right(true))
  assert.equal(wire(once.sent), [[Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 1], [Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 2]])
  const always = scripted((req) => (req.opcode === Opcode.Get ? res(Status.NoError, 77n, text('mine'), 1) : changed(1)))
  const r = await memcachedStore(always.driver).release({ key: 'k', token: 'mine', revision: '' })()
  assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && !r.left.indeterminate && r.left.cause instanceof ConnectionChangedError)
  assert.is(always.sent.length, 4)
})

S('extend, fast path: SET carrying the revision’s CAS on its connection, with our token; the new CAS and connection are the new revision', async () => {
  const { driver, sent } = scripted(() => res(Status.NoError, 71n, empty, 7))
  assert.equal(await memcachedStore(driver).extend({ key: 'k', token: 'mine', revision: '70@7' }, 4000)(), E.right(O.some({ fence: 71n, validityMs: 2000, revision: '71@7' })))
  assert.equal(wire(sent), [[Opcode.Set, 70n, 7]])
  assert.is(new TextDecoder().decode(sent[0]?.value), 'mine')
  assert.is(sent[0]?.extras[7], 4)
  const gone = scripted(() => res(Status.KeyNotFound))
  assert.equal(await memcachedStore(gone.driver).extend({ key: 'k', token: 'mine', revision: '70@7' }, 4000)(), E.right(O.none))
  assert.is(gone.sent.length, 1)
})

S('extend: another CAS or a changed connection take the verified path; a foreign token is never written', async () => {
  const exists = server('mine', 77n)
  assert.equal(await memcachedStore(exists.driver).extend({ key: 'k', token: 'mine', revision: '70@7' }, 4000)(), E.right(O.some({ fence: 78n, validityMs: 2000, revision: '78@7' })))
  assert.equal(wire(exists.sent), [[Opcode.Set, 70n, 7], [Opcode.Get, 0n, undefined], [Opcode.Set, 77n, 7]])
  const moved = server('mine', 77n)
  assert.ok(E.isRight(await memcachedStore(moved.driver).extend({ key: 'k', token: 'mine', revision: '77@3' }, 4000)()))
  assert.equal(wire(moved.sent).map(([op]) => op), [Opcode.Set, Opcode.Get, Opcode.Set])
  const foreign = server('theirs', 77n)
  assert.equal(await memcachedStore(foreign.driver).extend({ key: 'k', token: 'mine', revision: 'forged' }, 4000)(), E.right(O.none))
  assert.equal(wire(foreign.sent), [[Opcode.Get, 0n, undefined]])
})

S('verifyOwnership: release and extend always GET first, whatever the revision', async () => {
  const { driver, sent } = server('mine', 77n)
  const store = memcachedStore(driver, { verifyOwnership: true })
  assert.equal(await store.extend({ key: 'k', token: 'mine', revision: '77@7' }, 4000)(), E.right(O.some({ fence: 78n, validityMs: 2000, revision: '78@7' })))
  assert.equal(await store.release({ key: 'k', token: 'mine', revision: '77@7' })(), E.right(true))
  assert.equal(wire(sent), [[Opcode.Get, 0n, undefined], [Opcode.Set, 77n, 7], [Opcode.Get, 0n, undefined], [Opcode.Delete, 77n, 7]])
})

S('release (verified path) checks the token with GET, then deletes with the CAS the GET answered', async () => {
  const { driver, sent } = scripted((req) => (req.opcode === Opcode.Get ? res(Status.NoError, 77n, text('mine')) : res(Status.NoError)))
  const store = memcachedStore(driver)
  assert.equal(await store.release({ key: 'k', token: 'mine', revision: '70' })(), E.right(true))
  assert.equal(sent.map((r) => [r.opcode, r.cas]), [[Opcode.Get, 0n], [Opcode.Delete, 77n]])
  sent.length = 0
  assert.equal(await store.release({ key: 'k', token: 'theirs', revision: '77' })(), E.right(false))
  assert.equal(sent.map((r) => r.opcode), [Opcode.Get], 'no DELETE for a foreign token')
})

S('extend (verified path) checks the token, then SETs with the CAS; the new CAS is the new revision', async () => {
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
