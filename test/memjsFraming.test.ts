import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { Client } from 'memjs'
import { MalformedResponseError, RequestTimeoutError, connectMemcached, memjsDriver } from '../adapters/memjs.js'
import type { DriverError } from '../src/Driver.js'
import { randomToken } from '../src/Environment.js'
import type { LockError } from '../src/LockError.js'
import type { MemcachedConnection } from '../src/memcached/MemcachedConnection.js'
import { MemcachedDriver, memcachedStore } from '../src/memcached/memcachedStore.js'
import { Status, getRequest } from '../src/memcached/protocol.js'
import type { Store } from '../src/Store.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { TcpProxy, startTcpProxy } from './support/tcpProxy.js'
import './support/noUnhandled.js'
import { sleep } from './support/expect.js'

// memjs reads every response of a server from one buffer. These tests put a
// proxy between the driver and a real memcached that cuts or corrupts the
// server's replies, and check that the driver reads the replies that follow.

const COMMAND_MS = 300
/** The response to an ADD: a header and no body. */
const ADD_RESPONSE_BYTES = 24

const quiet = { log: (): void => undefined }

const right = <A>(e: E.Either<LockError | DriverError, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what} failed: ${'cause' in e.left ? String(e.left.cause) : e.left._tag}`)
  return e.right
}
const some = <A>(o: O.Option<A>, what: string): A => {
  if (O.isNone(o)) throw new Error(`${what}: expected some, got none`)
  return o.value
}

/** The cause of an indeterminate failure; fails the test for anything else. */
const indeterminateCause = (r: E.Either<LockError | DriverError, unknown>, what: string): unknown => {
  assert.ok(E.isLeft(r), `${what}: expected a failure`)
  const e = r.left
  assert.ok(e._tag === 'DriverFailure' || e._tag === 'DriverError', `${what}: ${e._tag}`)
  assert.ok(e.indeterminate, `${what}: indeterminate`)
  return e.cause
}

let server: MemcachedServer
let proxy: TcpProxy
/** A connection straight to the server, to look at items behind the proxy's back. */
let direct: MemcachedConnection
let prefix = ''
let n = 0
const freshKey = (): string => `${prefix}:${n++}`

/** A raw GET straight on the server. */
const peek = async (key: string): Promise<{ status: number; value: string }> => {
  const r = right(await direct.driver.send(getRequest(key))(), 'peek')
  return { status: r.status, value: new TextDecoder().decode(r.value) }
}

const viaProxy = async (): Promise<MemcachedConnection> =>
  right(
    await connectMemcached({ servers: [{ host: proxy.host, port: proxy.port }], connectTimeoutMs: 2000, commandTimeoutMs: COMMAND_MS })(),
    'connect through the proxy'
  )

/** Five locks taken and released in a row: each response must be read in full and in order. */
const locksWork = async (store: Store, when: string): Promise<void> => {
  for (let i = 0; i < 5; i++) {
    const key = freshKey()
    const grant = some(right(await store.acquire(key, 'tok', 10_000)(), `${when}: acquire ${i}`), `${when}: acquire ${i}`)
    assert.is(right(await store.release({ key, token: 'tok', revision: grant.revision })(), `${when}: release ${i}`), true)
  }
}

const S = suite('memjs framing: replies cut or corrupted between a real memcached and the driver')

S.before(async () => {
  server = await startMemcached()
  proxy = await startTcpProxy(server.port)
  direct = right(await connectMemcached({ servers: [{ host: server.host, port: server.port }], connectTimeoutMs: 2000 })(), 'connect')
  prefix = `framing-${randomToken()}`
})
S.after(async () => {
  await direct?.close()
  await proxy?.close()
  await server?.stop()
})

S('a deadline that passes with part of a header buffered: later responses are read in order (the ADD was applied, as "indeterminate" said)', async () => {
  const conn = await viaProxy()
  const store = memcachedStore(conn.driver)
  try {
    await locksWork(store, 'before the cut')
    const key = freshKey()
    proxy.stallAfter(10)
    const cut = await store.acquire(key, 'cut-short', 10_000)()
    proxy.flow()
    assert.instance(indeterminateCause(cut, 'the ADD whose response stalled'), RequestTimeoutError)
    assert.equal(await peek(key), { status: Status.NoError, value: 'cut-short' }, 'the server applied the ADD; only its response was cut')
    await locksWork(store, 'after the cut')
  } finally {
    await conn.close()
  }
})

S('a deadline that passes with a header and part of its body buffered: later responses are read in order', async () => {
  const conn = await viaProxy()
  const store = memcachedStore(conn.driver)
  try {
    const key = freshKey()
    const grant = some(right(await store.acquire(key, 'a-22-byte-token-value', 10_000)(), 'acquire'), 'acquire')
    proxy.stallAfter(30) // the GET's response is 24 + 4 (flags) + 21 bytes
    const cut = await conn.driver.send(getRequest(key))()
    proxy.flow()
    assert.instance(indeterminateCause(cut, 'the GET whose response stalled'), RequestTimeoutError)
    await locksWork(store, 'after the cut')
    assert.is(right(await store.release({ key, token: 'a-22-byte-token-value', revision: grant.revision })(), 'release'), true)
    assert.is((await peek(key)).status, Status.KeyNotFound)
  } finally {
    await conn.close()
  }
})

const corruptions: ReadonlyArray<readonly [string, number, number, RegExp]> = [
  ['a magic byte other than 0x81 (0x80, a request’s)', 0, 0x80, /magic byte 0x80, expected 0x81/],
  ['key and extras longer than the body', 4, 0xff, /key and extras/]
]

for (const [what, offset, value, fault] of corruptions)
  S(`a response with ${what}: the requests in flight fail as indeterminate, the connection is reset, and the next one works`, async () => {
    const conn = await viaProxy()
    const store = memcachedStore(conn.driver)
    try {
      const [k1, k2] = [freshKey(), freshKey()]
      const connections = proxy.accepted()
      // Two ADDs in one write: the first response is intact, the second is corrupted.
      proxy.overwrite(ADD_RESPONSE_BYTES + offset, value)
      const [first, second] = await Promise.all([store.acquire(k1, 'first', 10_000)(), store.acquire(k2, 'second', 10_000)()])
      const grant = some(right(first, 'the ADD answered intact'), 'the ADD answered intact')
      const cause = indeterminateCause(second, 'the ADD answered corrupted')
      assert.instance(cause, MalformedResponseError)
      assert.match((cause as Error).message, fault)
      assert.equal(await peek(k2), { status: Status.NoError, value: 'second' }, 'the server applied the second ADD: indeterminate is right')
      assert.is(right(await store.release({ key: k1, token: 'first', revision: grant.revision })(), 'release of the first lock'), true)
      assert.is(proxy.accepted(), connections + 1, 'the corrupted connection was replaced by one new connection')
      await locksWork(store, 'after the corrupted response')
    } finally {
      await conn.close()
    }
  })

S('a client shared with memjs calls: bytes reaching a socket memjs already gave up on (its own request timeout) are ignored', async () => {
  const client = Client.create(`${proxy.host}:${proxy.port}`, { timeout: 0.2, retries: 1, logger: quiet })
  const driver: MemcachedDriver = memjsDriver(client, { commandTimeoutMs: 2 * COMMAND_MS })
  const store = memcachedStore(driver)
  try {
    const shared = freshKey()
    await client.set(shared, 'set by memjs', { expires: 10 })
    assert.is(String((await client.get(shared)).value), 'set by memjs', 'memjs opened the socket and read its replies')
    await locksWork(store, 'on the socket memjs opened')
    assert.is(String((await client.get(shared)).value), 'set by memjs', 'memjs calls still read their replies')
    const key = freshKey()
    some(right(await store.acquire(key, 'held', 10_000)(), 'acquire'), 'acquire')
    // memjs's next reply is cut after 10 bytes, and malformed: read, its late bytes would reset the connection of the moment.
    proxy.overwrite(0, 0x80)
    proxy.stallAfter(10)
    const got = await client.get(key).then(
      () => 'answered',
      (e: unknown) => String(e)
    )
    assert.match(got, /timed out waiting on response/, 'memjs gave up on the GET and ended its socket')
    await locksWork(store, 'on a new socket, with the old reply cut short')
    const connections = proxy.accepted()
    proxy.flow()
    await sleep(50)
    await locksWork(store, 'after the rest of the old reply reached the old socket')
    assert.is(proxy.accepted(), connections, 'the late bytes did not reset the current connection')
  } finally {
    client.close()
  }
})

S.run()
