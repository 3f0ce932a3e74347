import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { Client } from 'memjs'
import type { DriverError } from '../src/Driver.js'
import { randomToken } from '../src/Environment.js'
import { makeLock } from '../src/Lock.js'
import type { LockError } from '../src/LockError.js'
import type { Grant, Store } from '../src/Store.js'
import { MemcachedDriver, memcachedStore } from '../src/memcached/memcachedStore.js'
import {
  CasDisabledError,
  ConnectionChangedError,
  MemcachedRequest,
  MemcachedResponse,
  Opcode,
  Revision,
  Status,
  deleteRequest,
  getRequest,
  parseRevision
} from '../src/memcached/protocol.js'
import type { MemcachedConnection } from '../src/memcached/MemcachedConnection.js'
import { RequestTimeoutError, connectMemcached, memjsDriver } from '../adapters/memjs.js'
import { conformance } from './support/conformance.js'
import { freePort } from './support/freePort.js'
import { MemcachedServer, memcachedStats, startMemcached, startSaslMemcached } from './support/memcachedServer.js'
import { sleep } from './support/expect.js'

const quiet = { log: (): void => undefined }

const right = <A>(e: E.Either<LockError, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${e.left._tag} ${e.left._tag === 'DriverFailure' ? String(e.left.cause) : ''}`)
  return e.right
}
const some = <A>(o: O.Option<A>, what: string): A => {
  if (O.isNone(o)) throw new Error(`${what}: expected some, got none`)
  return o.value
}
const connect = async (servers: ReadonlyArray<MemcachedServer>, extra: { username?: string; password?: string; commandTimeoutMs?: number } = {}) =>
  right(await connectMemcached({ servers: servers.map((s) => ({ host: s.host, port: s.port })), connectTimeoutMs: 2000, ...extra })(), 'connect')

/** A raw GET on one server, to look at an item behind the store's back. */
const peek = async (driver: MemcachedDriver, key: string): Promise<{ status: number; value: string }> => {
  const r = right(await driver.send(getRequest(key))().then(E.mapLeft((e): LockError => ({ _tag: 'DriverFailure', key, cause: e.cause, indeterminate: e.indeterminate }))), 'get')
  return { status: r.status, value: new TextDecoder().decode(r.value) }
}

const revisionOf = (revision: string): Revision => {
  const parsed = parseRevision(revision)
  if (parsed === undefined) throw new Error(`not a <cas>@<connection> revision: ${revision}`)
  return parsed
}

/** What a driver was sent and what it answered, in order. */
interface Exchange {
  readonly req: MemcachedRequest
  readonly res: E.Either<DriverError, MemcachedResponse>
}

/** A driver that records every request and its answer. */
const recording = (inner: MemcachedDriver): { driver: MemcachedDriver; log: Array<Exchange> } => {
  const log: Array<Exchange> = []
  const driver: MemcachedDriver = {
    send: (req) => async () => {
      const res = await inner.send(req)()
      log.push({ req, res })
      return res
    }
  }
  return { driver, log }
}

const OPCODE_NAMES: Readonly<Record<number, string>> = { [Opcode.Get]: 'GET', [Opcode.Set]: 'SET', [Opcode.Add]: 'ADD', [Opcode.Delete]: 'DELETE' }

/** The log as `OPCODE answer` lines: a status name, or the driver error's cause. */
const shown = (log: ReadonlyArray<Exchange>): Array<string> =>
  log.map(({ req, res }) => {
    const answer = E.isLeft(res)
      ? `${(res.left.cause as Error).name}${res.left.indeterminate ? ' (indeterminate)' : ''}`
      : ({ [Status.NoError]: 'ok', [Status.KeyNotFound]: 'not found', [Status.KeyExists]: 'exists' }[res.right.status] ?? `status ${res.right.status}`)
    return `${OPCODE_NAMES[req.opcode] ?? req.opcode} ${answer}`
  })

const stats = (server: MemcachedServer): Promise<Record<string, number>> => memcachedStats(server.port, server.host)

const COUNTERS = ['cmd_get', 'cmd_set', 'cmd_touch', 'delete_hits', 'delete_misses', 'cas_hits', 'cas_misses', 'cas_badval'] as const
/** How much each request counter grew between two `stats`. */
const grown = (before: Record<string, number>, after: Record<string, number>): Record<string, number> =>
  Object.fromEntries(COUNTERS.map((c) => [c, (after[c] ?? 0) - (before[c] ?? 0)]))

const tcpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length
/** The socket count once sockets closed by earlier tests are gone (the count holds still for 60 ms). */
const settledSockets = async (): Promise<number> => {
  let last = -1
  for (let stable = 0; stable < 3; ) {
    await sleep(20)
    const now = tcpSockets()
    stable = now === last ? stable + 1 : 0
    last = now
  }
  return last
}

// --- one server ---------------------------------------------------------------------------------

const S = suite('memcached store on a real server')
let server: MemcachedServer
let a: MemcachedConnection
let b: MemcachedConnection
let storeA: Store
let storeB: Store
let prefix = ''
let n = 0
const freshKey = (): string => `${prefix}:${n++}`

S.before(async () => {
  server = await startMemcached()
  a = await connect([server])
  b = await connect([server])
  storeA = memcachedStore(a.driver)
  storeB = memcachedStore(b.driver)
  prefix = `mc-${randomToken()}`
})
S.after(async () => {
  await a?.close()
  await b?.close()
  await server?.stop()
})

S('acquire answers the item CAS as fence and <cas>@<connection> as revision; extend answers a new CAS; the value is our token', async () => {
  const key = freshKey()
  const grant = some(right(await storeA.acquire(key, 'tok-a', 10_000)(), 'acquire'), 'acquire')
  assert.match(grant.revision, /^[1-9][0-9]*@[0-9]+$/)
  assert.is(revisionOf(grant.revision).cas, grant.fence)
  assert.ok(grant.fence > 0n)
  assert.is(grant.validityMs, 8000)
  assert.equal(await peek(a.driver, key), { status: Status.NoError, value: 'tok-a' })
  const extended = some(right(await storeA.extend({ key, token: 'tok-a', revision: grant.revision }, 5000)(), 'extend'), 'extend')
  assert.ok(revisionOf(extended.revision).cas > grant.fence, 'a new CAS')
  assert.is(revisionOf(extended.revision).connection, revisionOf(grant.revision).connection, 'on the same connection')
  const other = some(right(await storeB.acquire(freshKey(), 'tok-b', 10_000)(), 'acquire on b'), 'acquire on b')
  assert.is.not(revisionOf(other.revision).connection, revisionOf(grant.revision).connection, 'each connection has its own id')
  assert.is(extended.validityMs, 3000)
  assert.equal(await peek(a.driver, key), { status: Status.NoError, value: 'tok-a' }, 'extend keeps the token')
  assert.is(right(await storeA.release({ key, token: 'tok-a', revision: extended.revision })(), 'release'), true)
  assert.is((await peek(a.driver, key)).status, Status.KeyNotFound)
})

S('through the lock core, the fence is the item’s CAS: the ADD’s, then each extend’s (larger), and the next acquisition’s is larger still', async () => {
  const lock = makeLock(storeA)
  const casOnServer = async (key: string): Promise<bigint> => {
    const got = await a.driver.send(getRequest(key))()
    assert.ok(E.isRight(got) && got.right.status === Status.NoError, 'the item is there')
    return got.right.cas
  }
  const key = freshKey()
  const lease = right(await lock.acquire(key, 10_000, 0)(), 'acquire')
  assert.is(lease.fence, await casOnServer(key), 'the fence is the CAS the ADD gave the item')
  const once = right(await lock.extend(lease, 10_000)(), 'extend')
  const casAfterOnce = await casOnServer(key)
  assert.ok(casAfterOnce > lease.fence, 'the extend gave the item a new CAS')
  assert.is(revisionOf(once.revision).cas, casAfterOnce, 'the revision follows the item’s CAS')
  assert.is(once.fence, casAfterOnce, 'the fence is the item’s new CAS')
  const twice = right(await lock.extend(once, 10_000)(), 'extend again')
  const casAfterTwice = await casOnServer(key)
  assert.ok(casAfterTwice > casAfterOnce)
  assert.is(twice.fence, casAfterTwice, 'and again after a second extend')
  right(await lock.release(twice)(), 'release')
  const next = right(await lock.acquire(key, 10_000, 0)(), 'the next acquisition')
  assert.is(next.fence, await casOnServer(key))
  assert.ok(next.fence > casAfterTwice, 'the next acquisition’s fence is larger than any CAS the key had before')
  right(await lock.release(next)(), 'release')
})

S('UTF-8 keys and tokens reach the server intact', async () => {
  const key = `${freshKey()}:ü-✓-鍵`
  const grant = some(right(await storeA.acquire(key, 'jeton-ü✓', 10_000)(), 'acquire'), 'acquire')
  assert.equal(await peek(b.driver, key), { status: Status.NoError, value: 'jeton-ü✓' })
  assert.ok(O.isNone(right(await storeB.acquire(key, 'other', 10_000)(), 'acquire on b')), 'the same key from another connection')
  assert.ok(right(await storeA.release({ key, token: 'jeton-ü✓', revision: grant.revision })(), 'release'))
  assert.is((await peek(b.driver, key)).status, Status.KeyNotFound)
})

S('the original fixture through the lock core: tryAcquire, acquire with a timeout, release twice', async () => {
  const lock = makeLock(storeA)
  const k1 = freshKey()
  const first = some(right(await lock.tryAcquire(k1, 3000)(), 'try'), 'try')
  assert.ok(O.isNone(right(await lock.tryAcquire(k1, 3000)(), 'try again')))
  right(await lock.release(first)(), 'release')
  const again = some(right(await lock.tryAcquire(k1, 3000)(), 'try after release'), 'try after release')
  right(await lock.release(again)(), 'release')

  const k2 = freshKey()
  const held = right(await lock.acquire(k2, 3000, 1000)(), 'acquire')
  const started = performance.now()
  const second = await lock.acquire(k2, 3000, 300)()
  const waited = performance.now() - started
  assert.ok(E.isLeft(second) && second.left._tag === 'Timeout', 'the second acquire times out')
  assert.ok(waited >= 290 && waited < 1000, `waited ${waited.toFixed(0)} ms for a 300 ms timeout`)
  right(await lock.release(held)(), 'release')
  right(await lock.release(right(await lock.acquire(k2, 3000, 1000)(), 'acquire again'))(), 'release')

  const k3 = freshKey()
  const third = some(right(await lock.tryAcquire(k3, 3000)(), 'try'), 'try')
  right(await lock.release(third)(), 'release')
  const twice = await lock.release(third)()
  assert.ok(E.isLeft(twice) && twice.left._tag === 'NotHeld', 'a second release reports NotHeld and changes nothing')
})

S('TTLs of 500 ms and 1500 ms are accepted and expire within TTL + 1 s', async () => {
  const expiresWithin = async (ttlMs: number): Promise<number> => {
    const key = freshKey()
    const sentAt = performance.now()
    some(right(await storeA.acquire(key, 'a', ttlMs)(), 'acquire'), 'acquire')
    for (;;) {
      const elapsed = performance.now() - sentAt
      const retry = right(await storeB.acquire(key, 'b', 60_000)(), 'retry')
      if (O.isSome(retry)) return elapsed
      if (elapsed > ttlMs + 1000) return Infinity
      await sleep(20)
    }
  }
  const [half, oneAndHalf] = await Promise.all([expiresWithin(500), expiresWithin(1500)])
  assert.ok(half <= 1500, `a 500 ms lock was free after ${half} ms`)
  assert.ok(oneAndHalf <= 2500, `a 1500 ms lock was free after ${oneAndHalf} ms`)
})

S('another connection cannot release or extend our lock, with or without our revision', async () => {
  const key = freshKey()
  const grant = some(right(await storeA.acquire(key, 'tok-a', 10_000)(), 'acquire'), 'acquire')
  assert.is(right(await storeB.release({ key, token: 'tok-b', revision: grant.revision })(), 'foreign release'), false)
  assert.ok(O.isNone(right(await storeB.extend({ key, token: 'tok-b', revision: grant.revision }, 60_000)(), 'foreign extend')))
  assert.ok(O.isNone(right(await storeB.acquire(key, 'tok-b', 10_000)(), 'foreign acquire')))
  assert.equal(await peek(b.driver, key), { status: Status.NoError, value: 'tok-a' })
  assert.is(right(await storeA.release({ key, token: 'tok-a', revision: grant.revision })(), 'release'), true)
})

S('a release after our TTL expired and someone else acquired leaves the new holder in place', async () => {
  const key = freshKey()
  const ours = some(right(await storeA.acquire(key, 'old', 1000)(), 'acquire'), 'acquire')
  let theirs: Grant | undefined
  for (let i = 0; i < 60 && theirs === undefined; i++) {
    await sleep(25)
    theirs = O.toUndefined(right(await storeB.acquire(key, 'new', 10_000)(), 'acquire'))
  }
  assert.ok(theirs !== undefined, 'the key became free')
  assert.is(right(await storeA.release({ key, token: 'old', revision: ours.revision })(), 'stale release'), false)
  assert.ok(O.isNone(right(await storeA.extend({ key, token: 'old', revision: ours.revision }, 10_000)(), 'stale extend')))
  assert.equal(await peek(a.driver, key), { status: Status.NoError, value: 'new' })
})

S('acquire+release is two requests on the wire: ADD, then DELETE carrying its CAS on the connection that answered it', async () => {
  const { driver, log } = recording(a.driver)
  const store = memcachedStore(driver)
  const lock = makeLock(store)
  const rounds = 20
  const before = await stats(server)
  for (let i = 0; i < rounds; i++) {
    const key = freshKey()
    const grant = some(right(await store.acquire(key, 'tok', 10_000)(), 'acquire'), 'acquire')
    assert.ok(right(await store.release({ key, token: 'tok', revision: grant.revision })(), 'release'))
    const lease = some(right(await lock.tryAcquire(key, 10_000)(), 'tryAcquire'), 'tryAcquire')
    right(await lock.release(lease)(), 'release through the core')
  }
  const after = await stats(server)
  assert.is(log.length, 4 * rounds, 'two requests per acquire+release, through the store and through the core')
  assert.equal([...new Set(shown(log))], ['ADD ok', 'DELETE ok'])
  const [add, del] = log
  const added = add !== undefined && E.isRight(add.res) ? add.res.right : undefined
  assert.ok(added !== undefined && del !== undefined)
  assert.is(del.req.cas, added.cas, 'the DELETE carries the CAS of the ADD')
  assert.is(del.req.connection, added.connection, 'and is restricted to the connection that answered the ADD')
  assert.equal(grown(before, after), {
    cmd_get: 0,
    cmd_set: 2 * rounds,
    cmd_touch: 0,
    delete_hits: 2 * rounds,
    delete_misses: 0,
    cas_hits: 0,
    cas_misses: 0,
    cas_badval: 0
  }, 'the server saw one store and one delete per pair, and no GET')
})

S('a release or extend after a lost extend reply (our item has a newer CAS) still works, through the verified path', async () => {
  const { driver, log } = recording(a.driver)
  const store = memcachedStore(driver)
  const key = freshKey()
  const grant = some(right(await store.acquire(key, 'tok', 10_000)(), 'acquire'), 'acquire')
  some(right(await store.extend({ key, token: 'tok', revision: grant.revision }, 10_000)(), 'extend'), 'extend')
  log.length = 0
  const extended = some(right(await store.extend({ key, token: 'tok', revision: grant.revision }, 10_000)(), 'extend with the older revision'), 'extend')
  assert.equal(shown(log), ['SET exists', 'GET ok', 'SET ok'])
  assert.ok(revisionOf(extended.revision).cas > grant.fence)
  log.length = 0
  assert.is(right(await store.release({ key, token: 'tok', revision: grant.revision })(), 'release with the older revision'), true)
  assert.equal(shown(log), ['DELETE exists', 'GET ok', 'DELETE ok'])
  assert.is((await peek(a.driver, key)).status, Status.KeyNotFound)
})

S('a revision from another connection takes the verified path: it releases its own lock, never another holder’s', async () => {
  const { driver, log } = recording(b.driver)
  const store = memcachedStore(driver)
  const key = freshKey()
  const grant = some(right(await storeA.acquire(key, 'tok', 10_000)(), 'acquire on a'), 'acquire on a')
  assert.is(right(await store.release({ key, token: 'tok', revision: grant.revision })(), 'release on b'), true)
  assert.equal(shown(log), ['DELETE ConnectionChangedError', 'GET ok', 'DELETE ok'])
  const other = freshKey()
  const mine = some(right(await storeA.acquire(other, 'mine', 10_000)(), 'acquire'), 'acquire')
  log.length = 0
  assert.is(right(await store.release({ key: other, token: 'stale', revision: mine.revision })(), 'release with another token'), false)
  assert.equal(shown(log), ['DELETE ConnectionChangedError', 'GET ok'], 'no DELETE once the token differs')
  assert.equal(await peek(a.driver, other), { status: Status.NoError, value: 'mine' })
})

S('verifyOwnership: true always takes the verified path (GET, then DELETE or SET with its CAS)', async () => {
  const { driver, log } = recording(a.driver)
  const store = memcachedStore(driver, { verifyOwnership: true })
  const key = freshKey()
  const grant = some(right(await store.acquire(key, 'tok', 10_000)(), 'acquire'), 'acquire')
  const extended = some(right(await store.extend({ key, token: 'tok', revision: grant.revision }, 10_000)(), 'extend'), 'extend')
  assert.is(right(await store.release({ key, token: 'tok', revision: extended.revision })(), 'release'), true)
  assert.equal(shown(log), ['ADD ok', 'GET ok', 'SET ok', 'GET ok', 'DELETE ok'])
  const [, get, set] = log
  assert.ok(get !== undefined && set !== undefined && E.isRight(get.res))
  assert.is(set.req.cas, get.res.right.cas, 'the SET carries the CAS the GET answered')
  assert.is(set.req.connection, get.res.right.connection, 'on the connection that answered it')
})

S('fencing tokens grow on one key and across keys of one server', async () => {
  const key = freshKey()
  let last = 0n
  for (let i = 0; i < 5; i++) {
    const other = some(right(await storeB.acquire(freshKey(), 'x', 10_000)(), 'other key'), 'other key')
    const grant = some(right(await storeA.acquire(key, `t${i}`, 10_000)(), 'acquire'), 'acquire')
    assert.ok(grant.fence > last && grant.fence > other.fence, `fence ${grant.fence} after ${last} and ${other.fence}`)
    last = grant.fence
    assert.ok(right(await storeA.release({ key, token: `t${i}`, revision: grant.revision })(), 'release'))
  }
})

S('memjs sequence numbers wrap before 2^31 instead of breaking requests', async () => {
  const own = Client.create(`${server.host}:${server.port}`, { retries: 1, logger: quiet })
  ;(own as { seq: number }).seq = 0x7ffffffc
  const store = memcachedStore(memjsDriver(own, { commandTimeoutMs: 1000 }))
  const key = freshKey()
  for (let i = 0; i < 6; i++) {
    const grant = some(right(await store.acquire(key, `t${i}`, 5000)(), `acquire ${i}`), `acquire ${i}`)
    assert.ok(right(await store.release({ key, token: `t${i}`, revision: grant.revision })(), `release ${i}`))
  }
  assert.ok(own.seq > 0 && own.seq < 100, `seq wrapped to ${own.seq}`)
  own.close()
})

S('close leaves no socket behind, and a closed connection refuses at once', async () => {
  const before = await settledSockets()
  const c = await connect([server])
  const key = freshKey()
  some(right(await memcachedStore(c.driver).acquire(key, 't', 5000)(), 'acquire'), 'acquire')
  assert.ok(tcpSockets() > before)
  await c.close()
  await sleep(10)
  assert.is(tcpSockets(), before)
  const after = await memcachedStore(c.driver).acquire(freshKey(), 't', 5000)()
  assert.ok(E.isLeft(after) && after.left._tag === 'DriverFailure' && !after.left.indeterminate)
  await c.close()
})

S.run()

conformance(
  'memcached',
  async () => {
    const s = await startMemcached()
    const c = await connect([s])
    return {
      store: memcachedStore(c.driver),
      close: async () => {
        await c.close()
        await s.stop()
      }
    }
  },
  { ttlMs: 1000, expiryWaitMs: 1100 }
)

// --- failures -----------------------------------------------------------------------------------

const F = suite('memcached failures: stopped, killed, restarted and absent servers')
let victim: MemcachedServer
F.before(async () => {
  victim = await startMemcached()
})
F.after(async () => {
  await victim?.stop()
})

F('a request to a stopped server fails at its deadline as indeterminate; the connection recovers', async () => {
  const c = await connect([victim], { commandTimeoutMs: 300 })
  const store = memcachedStore(c.driver)
  const key = `paused-${randomToken()}`
  victim.pause()
  try {
    const started = performance.now()
    const r = await store.acquire(key, 'a', 10_000)()
    const took = performance.now() - started
    assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.indeterminate && r.left.cause instanceof RequestTimeoutError)
    assert.ok(took >= 290 && took < 1000, `failed after ${took.toFixed(0)} ms`)
  } finally {
    victim.resume()
  }
  await sleep(50)
  const retry = right(await store.acquire(key, 'b', 10_000)(), 'acquire after resume')
  assert.ok(O.isNone(retry), 'the ADD sent before the stop was applied: the outcome was indeed unknown, never a false "taken by someone else" for a retried ADD')
  await c.close()
})

F('a server killed while a request is in flight: the request settles at its deadline, and a restarted server works', async () => {
  const c = await connect([victim], { commandTimeoutMs: 400 })
  const store = memcachedStore(c.driver)
  victim.pause()
  const pending = store.acquire(`killed-${randomToken()}`, 'a', 10_000)()
  await sleep(50)
  await victim.kill()
  const started = performance.now()
  const r = await pending
  assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.indeterminate, 'indeterminate failure, not a hang')
  assert.ok(performance.now() - started < 1000)
  await victim.restart()
  const key = `restarted-${randomToken()}`
  const grant = some(right(await store.acquire(key, 'a', 10_000)(), 'acquire after restart'), 'acquire after restart')
  assert.ok(right(await store.release({ key, token: 'a', revision: grant.revision })(), 'release'))
  await c.close()
})

F('fencing tokens restart with the server (documented: the CAS counter is per server process)', async () => {
  const c = await connect([victim])
  const store = memcachedStore(c.driver)
  for (let i = 0; i < 20; i++) some(right(await store.acquire(`warm-${i}-${randomToken()}`, 'a', 10_000)(), 'warm'), 'warm')
  const key = `fence-${randomToken()}`
  const before = some(right(await store.acquire(key, 'a', 10_000)(), 'acquire'), 'acquire')
  await victim.restart()
  const after = some(right(await store.acquire(key, 'b', 10_000)(), 'acquire after restart'), 'acquire after restart')
  assert.ok(after.fence < before.fence, `after a restart ${after.fence} < ${before.fence}`)
  await c.close()
})

F('after a deadline reset the connection, release and extend are refused the fast path and take the verified one; no socket is orphaned', async () => {
  const sockets = await settledSockets()
  const c = await connect([victim], { commandTimeoutMs: 300 })
  const { driver, log } = recording(c.driver)
  const store = memcachedStore(driver)
  const key = `reset-${randomToken()}`
  const grant = some(right(await store.acquire(key, 'tok', 10_000)(), 'acquire'), 'acquire')
  victim.pause()
  try {
    const late = await store.acquire(`late-${randomToken()}`, 'x', 10_000)()
    assert.ok(E.isLeft(late) && late.left._tag === 'DriverFailure' && late.left.cause instanceof RequestTimeoutError)
  } finally {
    victim.resume()
  }
  log.length = 0
  const extended = some(right(await store.extend({ key, token: 'tok', revision: grant.revision }, 10_000)(), 'extend'), 'extend')
  assert.equal(shown(log), ['SET ConnectionChangedError', 'GET ok', 'SET ok'])
  assert.is.not(revisionOf(extended.revision).connection, revisionOf(grant.revision).connection, 'a new connection')
  log.length = 0
  assert.is(right(await store.release({ key, token: 'tok', revision: extended.revision })(), 'release'), true)
  assert.equal(shown(log), ['DELETE ok'], 'the extended grant names the new connection')
  await c.close()
  await sleep(50)
  assert.is(tcpSockets(), sockets, 'the socket reset on the deadline did not orphan its successor when it closed')
})

F('connecting where nothing listens fails clearly and quickly, leaving no socket', async () => {
  const before = await settledSockets()
  const port = await freePort()
  const started = performance.now()
  const r = await connectMemcached({ servers: [{ host: '127.0.0.1', port }], connectTimeoutMs: 1000 })()
  assert.ok(performance.now() - started < 1500)
  assert.ok(E.isLeft(r) && r.left._tag === 'ConnectFailed' && r.left.target === `127.0.0.1:${port}`)
  assert.match(String((r.left as { cause: unknown }).cause), /ECONNREFUSED/)
  await sleep(10)
  assert.is(tcpSockets(), before)
})

F('bad connect options are a ConfigError', async () => {
  const r = await connectMemcached({ servers: [{ host: '', port: 70_000 }], commandTimeoutMs: -1 })()
  assert.ok(E.isLeft(r) && r.left._tag === 'ConfigError' && r.left.errors.length === 3)
  const none = await connectMemcached({ servers: [] })()
  assert.ok(E.isLeft(none) && none.left._tag === 'ConfigError')
})

F.run()

// --- the fast path across a restart --------------------------------------------------------------

const R = suite('memcached fast path across a server restart on the same port')
let reborn: MemcachedServer
R.before(async () => {
  reborn = await startMemcached()
})
R.after(async () => {
  await reborn?.stop()
})

R('a stale Held never deletes or extends a new holder’s item, even when the CAS values collide: the fast path is refused', async () => {
  const old = await connect([reborn])
  const { driver, log } = recording(old.driver)
  const stale = memcachedStore(driver)
  const key = `restart-${randomToken()}`
  for (let i = 0; i < 20; i++) some(right(await stale.acquire(`warm-${i}-${randomToken()}`, 'w', 60_000)(), 'warm'), 'warm')
  const before = some(right(await stale.acquire(key, 'old', 60_000)(), 'acquire'), 'acquire')
  const revision = revisionOf(before.revision)

  await reborn.restart()
  const c = await connect([reborn])
  const fresh = memcachedStore(c.driver)
  // Store items until the new process's counter is one short of the old CAS: the new holder's ADD then gets exactly that CAS.
  let last = 0n
  while (last < before.fence - 1n) last = some(right(await fresh.acquire(`filler-${randomToken()}`, 'f', 60_000)(), 'filler'), 'filler').fence
  assert.is(last, before.fence - 1n, 'the new process counts from 1 again')
  const after = some(right(await fresh.acquire(key, 'new', 60_000)(), 'new holder'), 'new holder')
  assert.is(after.fence, before.fence, 'the new holder’s item has the old holder’s CAS')

  log.length = 0
  assert.is(right(await stale.release({ key, token: 'old', revision: before.revision })(), 'stale release'), false)
  assert.equal(shown(log), ['DELETE ConnectionChangedError', 'GET ok'], 'fast path refused; the token check stops the verified path')
  log.length = 0
  assert.ok(O.isNone(right(await stale.extend({ key, token: 'old', revision: before.revision }, 60_000)(), 'stale extend')))
  assert.equal(shown(log), ['SET ConnectionChangedError', 'GET ok'])
  assert.equal(await peek(c.driver, key), { status: Status.NoError, value: 'new' }, 'the new holder keeps its item')

  const refused = await old.driver.send(deleteRequest(key, revision.cas, revision.connection))()
  assert.ok(E.isLeft(refused) && refused.left.cause instanceof ConnectionChangedError && !refused.left.indeterminate, 'refused, determinate')
  assert.equal(await peek(c.driver, key), { status: Status.NoError, value: 'new' }, 'nothing was sent')
  // What the restriction prevents: the same DELETE, unrestricted, deletes the new holder's item.
  const unrestricted = await old.driver.send(deleteRequest(key, revision.cas))()
  assert.ok(E.isRight(unrestricted) && unrestricted.right.status === Status.NoError)
  assert.is((await peek(c.driver, key)).status, Status.KeyNotFound)
  await Promise.all([old.close(), c.close()])
})

R.run()

// --- CAS disabled -------------------------------------------------------------------------------

const C = suite('memcached with CAS disabled (-C)')
let noCas: MemcachedServer
C.before(async () => {
  noCas = await startMemcached({ args: ['-C'] })
})
C.after(async () => {
  await noCas?.stop()
})

C('connectMemcached refuses the server with a clear message', async () => {
  const r = await connectMemcached({ servers: [{ host: noCas.host, port: noCas.port }], connectTimeoutMs: 2000 })()
  assert.ok(E.isLeft(r) && r.left._tag === 'ConnectFailed')
  assert.match(String((r.left as { cause: unknown }).cause), /CAS disabled \(-C\)/)
})

C('a store over a raw driver refuses to lock, and never deletes someone else’s item', async () => {
  const client = Client.create(`${noCas.host}:${noCas.port}`, { retries: 1, logger: quiet })
  const driver = memjsDriver(client, { commandTimeoutMs: 1000 })
  const store = memcachedStore(driver)
  const key = `nocas-${randomToken()}`
  const acquired = await store.acquire(key, 'mine', 10_000)()
  assert.ok(E.isLeft(acquired) && acquired.left._tag === 'DriverFailure' && acquired.left.cause instanceof CasDisabledError)
  assert.ok(acquired.left._tag === 'DriverFailure' && acquired.left.indeterminate, 'the item was stored')
  const released = await store.release({ key, token: 'mine', revision: '1' })()
  assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure' && released.left.cause instanceof CasDisabledError)
  const extended = await store.extend({ key, token: 'mine', revision: '1' }, 10_000)()
  assert.ok(E.isLeft(extended))
  assert.equal(await peek(driver, key), { status: Status.NoError, value: 'mine' }, 'nothing was deleted or rewritten')
  client.close()
})

C.run()

// --- two servers --------------------------------------------------------------------------------

const T = suite('memcached over two servers')
let one: MemcachedServer
let two: MemcachedServer
T.before(async () => {
  ;[one, two] = await Promise.all([startMemcached(), startMemcached()])
})
T.after(async () => {
  await Promise.all([one?.stop(), two?.stop()])
})

T('keys spread over both servers, each lock works, and each key lives on exactly one server', async () => {
  const both = await connect([one, two])
  const other = await connect([one, two])
  const onlyOne = await connect([one])
  const onlyTwo = await connect([two])
  const store = memcachedStore(both.driver)
  const rival = memcachedStore(other.driver)
  const counts = [0, 0]
  for (let i = 0; i < 24; i++) {
    const key = `spread-${i}-${randomToken()}`
    const grant = some(right(await store.acquire(key, 'a', 10_000)(), 'acquire'), 'acquire')
    assert.ok(O.isNone(right(await rival.acquire(key, 'b', 10_000)(), 'rival')), 'the rival client maps the key to the same server')
    const on1 = (await peek(onlyOne.driver, key)).status === Status.NoError
    const on2 = (await peek(onlyTwo.driver, key)).status === Status.NoError
    assert.ok(on1 !== on2, 'exactly one server has the key')
    counts[on1 ? 0 : 1]++
    assert.ok(right(await store.release({ key, token: 'a', revision: grant.revision })(), 'release'))
    assert.ok(O.isSome(right(await rival.acquire(key, 'b', 1000)(), 'rival after release')))
  }
  assert.ok((counts[0] ?? 0) > 0 && (counts[1] ?? 0) > 0, `spread ${counts.join('/')}`)
  await Promise.all([both.close(), other.close(), onlyOne.close(), onlyTwo.close()])
})

T('a key never fails over: with its server stopped, its lock fails while the other server’s keys still work', async () => {
  const c = await connect([one, two], { commandTimeoutMs: 300 })
  const onlyTwo = await connect([two])
  const store = memcachedStore(c.driver)
  const keys = Array.from({ length: 16 }, (_, i) => `failover-${i}-${randomToken()}`)
  const onTwo = new Set<string>()
  for (const key of keys) {
    const g = some(right(await store.acquire(key, 'probe', 10_000)(), 'probe'), 'probe')
    if ((await peek(onlyTwo.driver, key)).status === Status.NoError) onTwo.add(key)
    right(await store.release({ key, token: 'probe', revision: g.revision })(), 'release')
  }
  one.pause()
  try {
    const results = await Promise.all(keys.map((key) => store.acquire(key, 'x', 10_000)()))
    results.forEach((r, i) => {
      const key = keys[i] ?? ''
      if (onTwo.has(key)) assert.ok(E.isRight(r) && O.isSome(r.right), `${key} on the live server`)
      else assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure', `${key} on the stopped server fails, never moves`)
    })
    for (const key of keys) if (!onTwo.has(key)) assert.is((await peek(onlyTwo.driver, key)).status, Status.KeyNotFound)
  } finally {
    one.resume()
  }
  await Promise.all([c.close(), onlyTwo.close()])
})

T.run()

// --- SASL ---------------------------------------------------------------------------------------

const A = suite('memcached with SASL (-S)')
let sasl: MemcachedServer
A.before(async () => {
  sasl = await startSaslMemcached('locker', 'open sesame')
})
A.after(async () => {
  await sasl?.stop()
})

A('the right credentials connect and lock', async () => {
  const c = await connect([sasl], { username: 'locker', password: 'open sesame' })
  const lock = makeLock(memcachedStore(c.driver))
  const lease = right(await lock.acquire(`sasl-${randomToken()}`, 5000, 0)(), 'acquire')
  right(await lock.release(lease)(), 'release')
  await c.close()
})

A('a wrong password, or none, is refused at connect', async () => {
  for (const creds of [{ username: 'locker', password: 'wrong' }, {}]) {
    const r = await connectMemcached({ servers: [{ host: sasl.host, port: sasl.port }], connectTimeoutMs: 2000, ...creds })()
    assert.ok(E.isLeft(r) && r.left._tag === 'ConnectFailed', JSON.stringify(creds))
    assert.match(String((r.left as { cause: unknown }).cause), /authentication failed/)
  }
})

A.run()
