/**
 * The slice of memcached's binary protocol a lock needs, as plain values:
 * request descriptions (`{ opcode, key, extras, value, cas }`) that any client
 * can put on the wire, responses (`{ status, cas, value }`), and decoders that
 * turn any response into an `Either`, never a throw.
 *
 * memcached's CAS ("compare and swap") value identifies one version of one
 * item: ADD answers the new item's CAS, and a DELETE or SET that carries a CAS
 * applies only while the item still has it. That is what makes release and
 * extend compare-then-act. A CAS of 0 in a request means "no check" — so a
 * request is never built with one: the {@link Cas} type is a non-zero CAS,
 * and only the decoders make it (and {@link parseRevision}, which reads one
 * back).
 *
 * A CAS identifies a version of an item only *within one server process*:
 * after a restart the counter starts again, and an old CAS can match a new
 * item. A restart always breaks the TCP connection, so a response names the
 * connection that answered it (`connection`), and a request carrying a CAS can
 * demand to be sent on that very connection: then the CAS is compared by the
 * process that handed it out, or not at all.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { LockError, driverFailure } from '../LockError.js'

/**
 * The opcodes used here (memcached binary protocol).
 *
 * @example
 * import { Opcode } from 'leaselock/memcached'
 * assert.strictEqual(Opcode.Add, 0x02)
 *
 * @since 0.1.0
 */
export const Opcode = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Delete: 0x04,
  Noop: 0x0a,
  Version: 0x0b
} as const

/**
 * Response statuses (memcached binary protocol).
 *
 * @example
 * import { Status } from 'leaselock/memcached'
 * assert.strictEqual(Status.KeyExists, 0x02)
 *
 * @since 0.1.0
 */
export const Status = {
  NoError: 0x00,
  KeyNotFound: 0x01,
  KeyExists: 0x02,
  ValueTooLarge: 0x03,
  InvalidArguments: 0x04,
  ItemNotStored: 0x05,
  AuthError: 0x20,
  UnknownCommand: 0x81,
  OutOfMemory: 0x82,
  NotSupported: 0x83,
  InternalError: 0x84,
  Busy: 0x85,
  TemporaryFailure: 0x86
} as const

const statusNames: Readonly<Record<number, string>> = {
  0x01: 'key not found',
  0x02: 'key exists',
  0x03: 'value too large',
  0x04: 'invalid arguments',
  0x05: 'item not stored',
  0x20: 'authentication error',
  0x81: 'unknown command',
  0x82: 'out of memory',
  0x83: 'not supported',
  0x84: 'internal error',
  0x85: 'busy',
  0x86: 'temporary failure'
}

/**
 * One binary-protocol request. `key` is sent as UTF-8; `cas` is 0n for "no check".
 *
 * `connection`, when set, restricts the request to one connection (an id a
 * response gave in its own `connection`): if the driver's current connection
 * to the key's server is not that one any more (closed, reset, reconnected),
 * the driver sends nothing and answers a `DriverError` whose cause is a
 * {@link ConnectionChangedError}, with `indeterminate: false`.
 *
 * @example
 * import { MemcachedRequest, Opcode } from 'leaselock/memcached'
 * const version: MemcachedRequest = { opcode: Opcode.Version, key: '', extras: new Uint8Array(0), value: new Uint8Array(0), cas: 0n }
 *
 * @since 0.1.0
 */
export interface MemcachedRequest {
  readonly opcode: number
  readonly key: string
  readonly extras: Uint8Array
  readonly value: Uint8Array
  readonly cas: bigint
  readonly connection?: number
}

/**
 * One binary-protocol response: the status, the CAS from the header, and the
 * value (the body after the extras and the key).
 *
 * `connection` names the connection (one TCP connection, hence one server
 * process) that answered: a number that no other connection of this process
 * has had or will have. A driver that cannot tell leaves it out — never
 * reuse a number for a new connection — and requests are then never
 * restricted to a connection (the store checks ownership with a GET instead).
 *
 * @example
 * import { MemcachedResponse, Status } from 'leaselock/memcached'
 * const stored: MemcachedResponse = { status: Status.NoError, cas: 17n, value: new Uint8Array(0) }
 *
 * @since 0.1.0
 */
export interface MemcachedResponse {
  readonly status: number
  readonly cas: bigint
  readonly value: Uint8Array
  readonly connection?: number
}

/**
 * A CAS value the server handed out, never 0.
 *
 * @example
 * import { Cas, decodeAdd, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const added = decodeAdd('k')({ status: Status.NoError, cas: 3n, value: new Uint8Array(0) })
 * const cas: Cas | undefined = E.isRight(added) ? O.toUndefined(added.right) : undefined
 *
 * @since 0.1.0
 */
export type Cas = bigint & { readonly Cas: unique symbol }

/**
 * The server answered CAS 0 where it must hand out a real one: it runs with
 * CAS disabled (`memcached -C`), and a lock cannot be released or extended
 * safely there (a DELETE or SET carrying CAS 0 is unconditional).
 *
 * @example
 * import { CasDisabledError } from 'leaselock/memcached'
 * assert.strictEqual(new CasDisabledError().name, 'CasDisabledError')
 *
 * @since 0.1.0
 */
export class CasDisabledError extends Error {
  constructor() {
    super('memcached answered CAS 0: the server runs with CAS disabled (-C), which leaselock refuses (a lock could not be released safely); restart it without -C')
    this.name = 'CasDisabledError'
  }
}

/**
 * A request restricted to a connection (see {@link MemcachedRequest}) was not
 * sent: the driver's connection to that server is not that one any more.
 * Nothing reached the server.
 *
 * @example
 * import { ConnectionChangedError } from 'leaselock/memcached'
 * assert.strictEqual(new ConnectionChangedError(7).connection, 7)
 *
 * @since 0.1.0
 */
export class ConnectionChangedError extends Error {
  constructor(readonly connection: number) {
    super(`not sent: the request was restricted to connection ${connection}, which is no longer the connection to its server`)
    this.name = 'ConnectionChangedError'
  }
}

/**
 * The server answered a status the operation does not expect.
 *
 * @example
 * import { StatusError } from 'leaselock/memcached'
 * assert.strictEqual(new StatusError(0x82).message, 'memcached answered status 0x0082 (out of memory)')
 *
 * @since 0.1.0
 */
export class StatusError extends Error {
  constructor(readonly status: number) {
    super(`memcached answered status 0x${status.toString(16).padStart(4, '0')} (${statusNames[status] ?? 'unknown status'})`)
    this.name = 'StatusError'
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: false })
const empty = new Uint8Array(0)

/**
 * The 8 bytes of extras of a storage command: flags (0) and the expiry in seconds, big-endian.
 *
 * @example
 * import { storageExtras } from 'leaselock/memcached'
 * assert.deepStrictEqual([...storageExtras(3)], [0, 0, 0, 0, 0, 0, 0, 3])
 *
 * @since 0.1.0
 */
export const storageExtras = (expirySeconds: number): Uint8Array => {
  const extras = new Uint8Array(8)
  new DataView(extras.buffer).setUint32(4, expirySeconds)
  return extras
}

const request = (opcode: number, key: string, extras: Uint8Array, value: Uint8Array, cas: bigint, connection?: number): MemcachedRequest => ({
  opcode,
  key,
  extras,
  value,
  cas,
  connection
})

/**
 * ADD: stores `token` under `key` for `expirySeconds`, only if the key is absent.
 *
 * @example
 * import { addRequest, Opcode } from 'leaselock/memcached'
 * assert.strictEqual(addRequest('jobs:nightly', 'tok', 3).opcode, Opcode.Add)
 *
 * @since 0.1.0
 */
export const addRequest = (key: string, token: string, expirySeconds: number): MemcachedRequest =>
  request(Opcode.Add, key, storageExtras(expirySeconds), encoder.encode(token), 0n)

/**
 * GET: the item's value and CAS.
 *
 * @example
 * import { getRequest, Opcode } from 'leaselock/memcached'
 * assert.strictEqual(getRequest('jobs:nightly').opcode, Opcode.Get)
 *
 * @since 0.1.0
 */
export const getRequest = (key: string): MemcachedRequest => request(Opcode.Get, key, empty, empty, 0n)

/**
 * DELETE carrying a CAS: deletes the item only while it still has that CAS;
 * with `connection`, only on that connection (see {@link MemcachedRequest}).
 *
 * @example
 * import { deleteRequest, decodeGet, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const item = decodeGet('k')({ status: Status.NoError, cas: 7n, value: new TextEncoder().encode('tok') })
 * if (E.isRight(item) && O.isSome(item.right)) assert.strictEqual(deleteRequest('k', item.right.value.cas).cas, 7n)
 *
 * @since 0.1.0
 */
export const deleteRequest = (key: string, cas: Cas, connection?: number): MemcachedRequest =>
  request(Opcode.Delete, key, empty, empty, cas, connection)

/**
 * SET carrying a CAS: rewrites the item (same token, new expiry) only while it
 * still has that CAS; with `connection`, only on that connection (see
 * {@link MemcachedRequest}). Unlike TOUCH, which ignores the CAS, this is a
 * compare-and-extend.
 *
 * @example
 * import { setRequest, decodeGet, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const item = decodeGet('k')({ status: Status.NoError, cas: 7n, value: new TextEncoder().encode('tok') })
 * if (E.isRight(item) && O.isSome(item.right)) assert.strictEqual(setRequest('k', 'tok', 5, item.right.value.cas).cas, 7n)
 *
 * @since 0.1.0
 */
export const setRequest = (key: string, token: string, expirySeconds: number, cas: Cas, connection?: number): MemcachedRequest =>
  request(Opcode.Set, key, storageExtras(expirySeconds), encoder.encode(token), cas, connection)

/**
 * NOOP: answers at once; used to check a connection (and its authentication).
 *
 * @example
 * import { noopRequest, Opcode } from 'leaselock/memcached'
 * assert.strictEqual(noopRequest.opcode, Opcode.Noop)
 *
 * @since 0.1.0
 */
export const noopRequest: MemcachedRequest = request(Opcode.Noop, '', empty, empty, 0n)

const unexpected = (key: string, res: MemcachedResponse, indeterminate: boolean): LockError =>
  driverFailure(key, new StatusError(res.status), indeterminate)

/** CAS 0: the server runs with CAS disabled. */
const casDisabled = (key: string, indeterminate: boolean): E.Either<LockError, never> =>
  E.left(driverFailure(key, new CasDisabledError(), indeterminate))

/** The CAS of an item just stored (ADD or SET); CAS 0 fails indeterminate, as the item was stored. */
const storedCas = (key: string, cas: bigint): E.Either<LockError, O.Option<Cas>> =>
  cas === 0n ? casDisabled(key, true) : E.right(O.some(cas as Cas))

/**
 * Decodes the answer to an ADD: `some(cas)` when stored, `none` when the key
 * exists. A CAS of 0 (CAS disabled) is a `DriverFailure` with
 * `indeterminate: true`: the item *was* stored and keeps the key until it
 * expires, but it could never be released safely. Any other status is a
 * `DriverFailure` with `indeterminate: false` (nothing was stored).
 *
 * @example
 * import { decodeAdd, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const empty = new Uint8Array(0)
 * assert.deepStrictEqual(decodeAdd('k')({ status: Status.NoError, cas: 9n, value: empty }), E.right(O.some(9n)))
 * assert.deepStrictEqual(decodeAdd('k')({ status: Status.KeyExists, cas: 0n, value: empty }), E.right(O.none))
 * assert.ok(E.isLeft(decodeAdd('k')({ status: Status.NoError, cas: 0n, value: empty })))
 *
 * @since 0.1.0
 */
export const decodeAdd =
  (key: string) =>
  (res: MemcachedResponse): E.Either<LockError, O.Option<Cas>> => {
    switch (res.status) {
      case Status.NoError:
        return storedCas(key, res.cas)
      case Status.KeyExists:
      case Status.ItemNotStored:
        return E.right(O.none)
      default:
        return E.left(unexpected(key, res, false))
    }
  }

/**
 * An item as GET answers it: its value as text and its CAS.
 *
 * @example
 * import { Item } from 'leaselock/memcached'
 * const isOurs = (token: string) => (item: Item): boolean => item.value === token
 *
 * @since 0.1.0
 */
export interface Item {
  readonly value: string
  readonly cas: Cas
}

/**
 * Decodes the answer to a GET: `some(item)`, or `none` when the key is absent.
 * A CAS of 0 is a `DriverFailure` (CAS disabled; nothing was changed).
 *
 * @example
 * import { decodeGet, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const found = decodeGet('k')({ status: Status.NoError, cas: 4n, value: new TextEncoder().encode('tok') })
 * assert.deepStrictEqual(found, E.right(O.some({ value: 'tok', cas: 4n })))
 * assert.deepStrictEqual(decodeGet('k')({ status: Status.KeyNotFound, cas: 0n, value: new Uint8Array(0) }), E.right(O.none))
 *
 * @since 0.1.0
 */
export const decodeGet =
  (key: string) =>
  (res: MemcachedResponse): E.Either<LockError, O.Option<Item>> => {
    switch (res.status) {
      case Status.NoError:
        return res.cas === 0n ? casDisabled(key, false) : E.right(O.some({ value: decoder.decode(res.value), cas: res.cas as Cas }))
      case Status.KeyNotFound:
        return E.right(O.none)
      default:
        return E.left(unexpected(key, res, false))
    }
  }

/**
 * Decodes the answer to a DELETE carrying a CAS: `true` when deleted, `false`
 * when the key is gone or has another CAS (someone else's item, or ours rewritten).
 *
 * @example
 * import { decodeDelete, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * const empty = new Uint8Array(0)
 * assert.deepStrictEqual(decodeDelete('k')({ status: Status.NoError, cas: 0n, value: empty }), E.right(true))
 * assert.deepStrictEqual(decodeDelete('k')({ status: Status.KeyExists, cas: 0n, value: empty }), E.right(false))
 *
 * @since 0.1.0
 */
export const decodeDelete =
  (key: string) =>
  (res: MemcachedResponse): E.Either<LockError, boolean> => {
    switch (res.status) {
      case Status.NoError:
        return E.right(true)
      case Status.KeyNotFound:
      case Status.KeyExists:
        return E.right(false)
      default:
        return E.left(unexpected(key, res, false))
    }
  }

/**
 * Decodes the answer to a SET carrying a CAS: `some(newCas)` when rewritten,
 * `none` when the key is gone or has another CAS. A stored item answered with
 * CAS 0 is a `DriverFailure` with `indeterminate: true`.
 *
 * @example
 * import { decodeSet, Status } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * const empty = new Uint8Array(0)
 * assert.deepStrictEqual(decodeSet('k')({ status: Status.NoError, cas: 12n, value: empty }), E.right(O.some(12n)))
 * assert.deepStrictEqual(decodeSet('k')({ status: Status.KeyNotFound, cas: 0n, value: empty }), E.right(O.none))
 *
 * @since 0.1.0
 */
export const decodeSet =
  (key: string) =>
  (res: MemcachedResponse): E.Either<LockError, O.Option<Cas>> => {
    switch (res.status) {
      case Status.NoError:
        return storedCas(key, res.cas)
      case Status.KeyNotFound:
      case Status.KeyExists:
        return E.right(O.none)
      default:
        return E.left(unexpected(key, res, false))
    }
  }

/**
 * Where a CAS is valid: the CAS a response answered, and the connection that
 * answered it (see {@link MemcachedResponse}).
 *
 * @example
 * import { Revision, parseRevision } from 'leaselock/memcached'
 * const revision: Revision | undefined = parseRevision('42@7')
 *
 * @since 0.1.0
 */
export interface Revision {
  readonly cas: Cas
  readonly connection: number
}

/**
 * A revision as a grant carries it: `<cas>@<connection>`, both in decimal.
 *
 * @example
 * import { showRevision, parseRevision } from 'leaselock/memcached'
 * const revision = parseRevision('42@7')
 * if (revision !== undefined) assert.strictEqual(showRevision(revision), '42@7')
 *
 * @since 0.1.0
 */
export const showRevision = (revision: Revision): string => `${revision.cas}@${revision.connection}`

const REVISION = /^([1-9][0-9]{0,19})@(0|[1-9][0-9]{0,15})$/
const MAX_CAS = 2n ** 64n - 1n

/**
 * Reads back a revision written by {@link showRevision}: `undefined` for
 * anything else (including a CAS of 0, or one that does not fit in 64 bits).
 *
 * @example
 * import { parseRevision } from 'leaselock/memcached'
 * assert.deepStrictEqual(parseRevision('42@7'), { cas: 42n, connection: 7 })
 * assert.strictEqual(parseRevision('42'), undefined)
 * assert.strictEqual(parseRevision('0@7'), undefined)
 *
 * @since 0.1.0
 */
export const parseRevision = (revision: string): Revision | undefined => {
  const parts = REVISION.exec(revision)
  if (parts === null) return undefined
  const cas = BigInt(parts[1] ?? '')
  const connection = Number(parts[2])
  return cas <= MAX_CAS && Number.isSafeInteger(connection) ? { cas: cas as Cas, connection } : undefined
}
