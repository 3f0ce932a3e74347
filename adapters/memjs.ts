/**
 * The memjs adapter: a {@link MemcachedDriver} over a memjs client, and
 * `connectMemcached`, which creates, checks and closes such a client.
 *
 * memjs has no CAS API, so requests are encoded here (the binary protocol's
 * header, with the CAS, then extras, key and value) and sent on the key's
 * server with the server's own `onResponse`/`onError`/`write` — what
 * `client.perform` does, minus the parts that are hazards for a lock:
 *
 * - **retries**: `perform` re-sends a request whose connection failed, so an
 *   ADD that was applied before the failure comes back as "key exists" — our
 *   own lock reported as someone else's. Every request here is sent once.
 * - **failover**: with `failover: true`, `perform` sends a key to the next
 *   server while its own is marked down, so two clients could lock one key on
 *   two servers. Here a key always goes to the server memjs's hashing
 *   (`client.getServer`) picks, whatever the client's options.
 * - **requests that never settle**: when the server closes the connection, memjs
 *   drops the socket without failing the requests in flight. Every request here
 *   has its own deadline; when it passes, the connection to that server is reset
 *   (memjs fails its other requests in flight and reconnects on the next one).
 * - **sequence overflow**: `client.incrSeq` goes negative after 2^31 requests,
 *   which no request header can carry. The counter is wrapped back to 1.
 * - **one response buffer per server**: memjs reads the replies of all the
 *   sockets it opens to a server into one buffer, never emptied when a socket
 *   is reset, and reads any bytes as a response. A reply cut short by a
 *   deadline would thus misalign every later response from that server. Here
 *   each socket's replies are read with a buffer of its own, bytes from a
 *   socket that is no longer the server's current one are dropped, and a
 *   header that is not a response's (magic byte other than 0x81, or key and
 *   extras overrunning the body) resets the connection, failing its requests
 *   in flight as indeterminate with a `MalformedResponseError`.
 * - **which connection**: memjs reconnects silently, so each response names
 *   the socket that carried its request (`connection`: an id per socket), and
 *   a request restricted to a connection is sent only while that socket is
 *   still the server's current, connected one — otherwise it is answered at
 *   once with a `ConnectionChangedError` and nothing is sent. A CAS from one
 *   server process thus never reaches the next one on the same port.
 *
 * @since 0.1.0
 */
import { randomBytes, randomInt } from 'node:crypto'
import type { Socket } from 'node:net'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Client, Response, Server, Utils } from 'memjs'
import { showValue } from '../src/config/showValue.js'
import { DriverError, driverError } from '../src/Driver.js'
import { LockError, configError, connectFailed } from '../src/LockError.js'
import type { MemcachedConnectOptions, MemcachedConnection } from '../src/memcached/MemcachedConnection.js'
import type { MemcachedDriver } from '../src/memcached/memcachedStore.js'
import {
  ConnectionChangedError,
  MemcachedRequest,
  MemcachedResponse,
  Status,
  StatusError,
  addRequest,
  decodeAdd,
  deleteRequest,
  noopRequest
} from '../src/memcached/protocol.js'

/**
 * The default deadline of one request, from the call until the response: 2000 ms.
 *
 * @example
 * import { DEFAULT_COMMAND_TIMEOUT_MS } from 'leaselock/memcached'
 * assert.strictEqual(DEFAULT_COMMAND_TIMEOUT_MS, 2000)
 *
 * @since 0.1.0
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000

/**
 * The default deadline for `connectMemcached` (connecting, authenticating and
 * checking every server): 5000 ms.
 *
 * @example
 * import { DEFAULT_CONNECT_TIMEOUT_MS } from 'leaselock/memcached'
 * assert.strictEqual(DEFAULT_CONNECT_TIMEOUT_MS, 5000)
 *
 * @since 0.1.0
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000

/**
 * A deadline passed before the response came; the request may or may not have been applied.
 *
 * @example
 * import { RequestTimeoutError } from 'leaselock/memcached'
 * assert.strictEqual(new RequestTimeoutError(100).message, 'memcached did not answer within 100 ms')
 *
 * @since 0.1.0
 */
export class RequestTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`memcached did not answer within ${timeoutMs} ms`)
    this.name = 'RequestTimeoutError'
  }
}

/**
 * memcached's reply could not be read as binary-protocol responses (a header
 * whose magic byte is not 0x81, or whose key and extras overrun its body): the
 * connection was reset, and every request in flight on it failed, as
 * indeterminate, with this cause.
 *
 * @example
 * import { MalformedResponseError } from 'leaselock/memcached'
 * assert.strictEqual(new MalformedResponseError('magic byte 0x80').message, 'memcached sent a malformed response (magic byte 0x80): the connection was reset')
 *
 * @since 0.1.0
 */
export class MalformedResponseError extends Error {
  constructor(readonly fault: string) {
    super(`memcached sent a malformed response (${fault}): the connection was reset`)
    this.name = 'MalformedResponseError'
  }
}

/**
 * The connection was closed with `close()`; nothing more is sent.
 *
 * @example
 * import { ConnectionClosedError } from 'leaselock/memcached'
 * assert.strictEqual(new ConnectionClosedError().name, 'ConnectionClosedError')
 *
 * @since 0.1.0
 */
export class ConnectionClosedError extends Error {
  constructor() {
    super('the memcached connection is closed')
    this.name = 'ConnectionClosedError'
  }
}

/**
 * @example
 * import { MemjsDriverOptions } from 'leaselock/memcached'
 * const fast: MemjsDriverOptions = { commandTimeoutMs: 500 }
 *
 * @since 0.1.0
 */
export interface MemjsDriverOptions {
  /** Deadline of each request in ms ({@link DEFAULT_COMMAND_TIMEOUT_MS} by default). */
  readonly commandTimeoutMs?: number
}

/**
 * A request not sent because its server refused a connection moments ago:
 * the driver backs off from a dead server (with jitter, doubling up to
 * {@link SERVER_BACKOFF_MAX_MS}) instead of opening a socket per call, and
 * tries it again once the backoff has passed. Determinate: nothing was sent.
 *
 * @example
 * import { ServerDownError } from 'leaselock/memcached'
 * assert.match(new ServerDownError('127.0.0.1:11211', 40, 'connect ECONNREFUSED 127.0.0.1:11211').message, /ECONNREFUSED.*next try in 40 ms/)
 *
 * @since 0.3.0
 */
export class ServerDownError extends Error {
  constructor(
    readonly server: string,
    readonly retryInMs: number,
    /** What the last connection attempt answered, e.g. `connect ECONNREFUSED 127.0.0.1:11211`. */
    readonly lastFailure = 'connection refused'
  ) {
    super(`memcached ${server} is down (${lastFailure}): next try in ${Math.round(retryInMs)} ms`)
    this.name = 'ServerDownError'
  }
}

/**
 * The longest a dead server is left alone between two connection attempts, in ms.
 *
 * @example
 * import { SERVER_BACKOFF_MAX_MS } from 'leaselock/memcached'
 * assert.strictEqual(SERVER_BACKOFF_MAX_MS, 1_000)
 *
 * @since 0.3.0
 */
export const SERVER_BACKOFF_MAX_MS = 1_000
const SERVER_BACKOFF_BASE_MS = 10

/** A server's refusals in a row, and until when it is left alone. */
interface Backoff {
  failures: number
  until: number
  lastFailure: string
}

const SEQ_LIMIT = 0x7fffffff

/** The next request number: memjs's own counter, wrapped back to 1 before it overflows. */
const nextSeq = (client: Client): number => {
  client.incrSeq()
  if (client.seq > 0 && client.seq < SEQ_LIMIT) return client.seq
  ;(client as { seq: number }).seq = 1
  return 1
}

/**
 * A request on the wire: the 24-byte header (magic 0x80, opcode, key and
 * extras lengths, body length, the request number as `opaque`, the CAS), then
 * extras, key (UTF-8) and value. Throws a RangeError for a field that does not
 * fit its header slot.
 */
const encode = (req: MemcachedRequest, seq: number): Buffer => {
  const extrasLength = req.extras.length
  const keyLength = Buffer.byteLength(req.key)
  const bodyLength = extrasLength + keyLength + req.value.length
  const buf = Buffer.allocUnsafe(24 + bodyLength)
  buf.writeUInt8(0x80, 0)
  buf.writeUInt8(req.opcode, 1)
  buf.writeUInt16BE(keyLength, 2)
  buf.writeUInt8(extrasLength, 4)
  buf.writeUInt8(0, 5)
  buf.writeUInt16BE(0, 6)
  buf.writeUInt32BE(bodyLength, 8)
  buf.writeUInt32BE(seq, 12)
  buf.writeBigUInt64BE(req.cas, 16)
  buf.set(req.extras, 24)
  buf.write(req.key, 24 + extrasLength, 'utf8')
  buf.set(req.value, 24 + extrasLength + keyLength)
  return buf
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** What memjs reports when SASL authentication fails. */
const AUTH_FAILED = 'Memcached server authentication failed!'

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])

/**
 * Failures that certainly happened before the request reached the server:
 * memjs writes a request only once the socket is connected (and authenticated).
 */
const notSent = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true
  const message = messageOf(err)
  return message === 'socket timed out connecting to server.' || message === AUTH_FAILED
}

/** A connection the server refused or that could not be made at all: the server is down, not slow. */
const refused = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && NOT_SENT_CODES.has(code)
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(messageOf(err)))

/**
 * The id of each socket memjs opened, given the first time a request is
 * written on it: unique within this process (a counter), and unlikely to match
 * an id of another process (the counter starts at a random point of 2^48), so
 * a revision carried to another process takes the verified path there.
 */
const connectionIds = new WeakMap<Socket, number>()
let nextConnectionId = randomInt(2 ** 48 - 1)

const connectionOf = (socket: Socket): number => {
  let id = connectionIds.get(socket)
  if (id === undefined) {
    id = nextConnectionId++
    connectionIds.set(socket, id)
  }
  return id
}

const corked = new WeakSet<Socket>()

/**
 * Writes a request, coalescing every request written to a socket in the same
 * tick into one system call (memjs writes each on its own, which costs more
 * than the rest of a request's handling when many locks are taken at once).
 * Deadlines are the driver's own, so memjs's request-timeout bookkeeping in
 * `server.write` is not needed.
 */
const writeBatched = (socket: Socket, buf: Buffer): void => {
  if (!corked.has(socket)) {
    corked.add(socket)
    socket.cork()
    process.nextTick(() => {
      corked.delete(socket)
      socket.uncork()
    })
  }
  socket.write(buf)
}

/** The server's current socket: memjs drops it when it closes or fails, or a request times out, and opens a new one on the next request. */
const currentSocket = (server: Server): Socket | undefined => (server as unknown as { readonly _socket?: Socket })._socket

/**
 * Whether `connection` is the server's current socket, connected (and
 * authenticated): then `server.sock` hands that very socket over at once.
 */
const isCurrent = (server: Server, connection: number): boolean => {
  const socket = currentSocket(server)
  return socket !== undefined && server.connected && connectionIds.get(socket) === connection
}

/**
 * memjs's 'close' handler of a socket forgets the server's current socket,
 * whichever that is. A socket that closes after it was replaced (one
 * destroyed on a deadline closes a moment later; one ended by memjs's own
 * timeout, once the server answers the FIN) would thus orphan its successor:
 * left open, never closed by `close()`, and taken for a changed connection.
 * The handler is made to act only while `socket` is still the current one.
 */
const guardClose = (server: Server, socket: Socket): void => {
  for (const listener of socket.listeners('close') as Array<(hadError: boolean) => void>) {
    socket.removeListener('close', listener)
    socket.on('close', (hadError: boolean) => {
      if (currentSocket(server) === socket) listener.call(socket, hadError)
    })
  }
}

/** The first byte of every binary-protocol response (a request's is 0x80). */
const RESPONSE_MAGIC = 0x81
const HEADER_BYTES = 24
/** The SASL steps memjs runs on a new socket: list the mechanisms, then authenticate. */
const SASL_LIST_MECHANISMS = 0x20
const SASL_AUTHENTICATE = 0x21
const NOTHING = Buffer.alloc(0)

/** Why a response header (at least 24 bytes) cannot be read, or `undefined` when it can. */
const headerFault = (header: Buffer): string | undefined => {
  const magic = header.readUInt8(0)
  if (magic !== RESPONSE_MAGIC) return `magic byte 0x${magic.toString(16).padStart(2, '0')}, expected 0x81`
  if (header.readUInt16BE(2) + header.readUInt8(4) > header.readUInt32BE(8)) return 'key and extras longer than the body'
  return undefined
}

/** Hands one response to memjs as its own reader would: a SASL step, a failed authentication, or the request's callbacks. */
const deliver = (server: Server, response: Response): void => {
  const { opcode, status } = response.header
  if (opcode === SASL_LIST_MECHANISMS) server.saslAuth()
  else if (status === Status.AuthError) server.error(new Error(AUTH_FAILED))
  else if (opcode === SASL_AUTHENTICATE) server.emit('authenticated')
  else (server as unknown as { respond: (response: Response) => void }).respond(response)
}

/**
 * Reads the responses of one socket with a buffer of its own (see the module
 * notes): bytes that arrive once it is no longer the server's current socket
 * are dropped, and a header that cannot be read (see {@link headerFault})
 * resets the connection, failing its requests in flight with a
 * {@link MalformedResponseError}, rather than wait for a body that will never
 * come.
 */
const responseReader = (server: Server, socket: Socket, unread: Buffer) => {
  let buffered = unread
  return (chunk: Buffer): void => {
    if (currentSocket(server) !== socket) return
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    while (buffered.length >= HEADER_BYTES) {
      const fault = headerFault(buffered)
      if (fault !== undefined) {
        buffered = NOTHING
        server.error(new MalformedResponseError(fault))
        return
      }
      const end = HEADER_BYTES + buffered.readUInt32BE(8)
      if (buffered.length < end) return
      const response = Utils.parseMessage(buffered)
      buffered = end === buffered.length ? NOTHING : buffered.subarray(end)
      deliver(server, response)
      if (currentSocket(server) !== socket) return
    }
  }
}

/** Replaces memjs's reader of `socket` with a {@link responseReader} that starts from `unread`, and empties memjs's buffer. */
const takeOverReading = (server: Server, socket: Socket, unread: Buffer): void => {
  ;(server as { responseBuffer: Buffer }).responseBuffer = NOTHING
  for (const listener of socket.listeners('data') as Array<(chunk: Buffer) => void>) socket.removeListener('data', listener)
  socket.on('data', responseReader(server, socket, unread))
}

const adopted = new WeakSet<Socket>()

/**
 * Puts the server's current socket under the driver's watch, once per socket
 * ({@link guardClose}, {@link takeOverReading}). memjs sets up its reader
 * when the socket connects: a socket still connecting is taken over then,
 * with nothing of it read yet (what memjs's buffer holds is from older
 * sockets); one already connected (opened by another user of the client) at
 * once, with what memjs buffered from it.
 */
const adopt = (server: Server): void => {
  const socket = currentSocket(server)
  if (socket === undefined || adopted.has(socket)) return
  adopted.add(socket)
  guardClose(server, socket)
  if (socket.connecting) socket.once('connect', () => takeOverReading(server, socket, NOTHING))
  else takeOverReading(server, socket, server.responseBuffer)
}

/** The server memjs's hashing assigns to `key`, ignoring any failover marks. */
const serverFor = (client: Client, key: string): Server | undefined =>
  client.servers.length > 1 ? client.servers[Number(client.getServer(key))] : client.servers[0]

interface Transport {
  readonly send: (
    server: Server | undefined,
    req: MemcachedRequest,
    timeoutMs?: number
  ) => Promise<E.Either<DriverError, MemcachedResponse>>
  /** Resolves once no request is in flight. */
  readonly idle: () => Promise<void>
}

const transport = (client: Client, defaultTimeoutMs: number, isClosed: () => boolean, random: () => number = Math.random): Transport => {
  const backoffs = new WeakMap<Server, Backoff>()
  /** After a refused connection: leave the server alone for a jittered, doubling while. */
  const backOff = (server: Server, err: unknown): void => {
    const b = backoffs.get(server) ?? { failures: 0, until: 0, lastFailure: '' }
    b.lastFailure = messageOf(err)
    b.failures = Math.min(b.failures + 1, 30)
    const ceiling = Math.min(SERVER_BACKOFF_MAX_MS, SERVER_BACKOFF_BASE_MS * 2 ** (b.failures - 1))
    b.until = performance.now() + ceiling / 2 + (random() * ceiling) / 2
    backoffs.set(server, b)
  }
  let inFlight = 0
  let waiters: Array<() => void> = []
  const send: Transport['send'] = (server, req, timeoutMs = defaultTimeoutMs) =>
    new Promise((resolve) => {
      if (isClosed()) return resolve(E.left(driverError(new ConnectionClosedError(), false)))
      if (server === undefined) return resolve(E.left(driverError(new Error('memjs has no server for this key'), false)))
      if (req.connection !== undefined && !isCurrent(server, req.connection))
        return resolve(E.left(driverError(new ConnectionChangedError(req.connection), false)))
      const backoff = backoffs.get(server)
      if (backoff !== undefined && backoff.until > performance.now())
        return resolve(E.left(driverError(new ServerDownError(`${server.host}:${server.port}`, backoff.until - performance.now(), backoff.lastFailure), false)))
      let seq: number
      let buf: Buffer
      try {
        seq = nextSeq(client)
        buf = encode(req, seq)
      } catch (e) {
        return resolve(E.left(driverError(e, false)))
      }
      inFlight++
      let settled = false
      let connection: number | undefined
      const settle = (result: E.Either<DriverError, MemcachedResponse>): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (--inFlight === 0) {
          for (const wake of waiters) wake()
          waiters = []
        }
        resolve(result)
      }
      const timer = setTimeout(() => {
        const error = new RequestTimeoutError(timeoutMs)
        settle(E.left(driverError(error, true)))
        server.error(error)
      }, timeoutMs)
      try {
        server.onResponse(seq, (response) => {
          backoffs.delete(server)
          settle(E.right({ status: response.header.status, cas: response.header.cas.readBigUInt64BE(0), value: response.val, connection }))
        })
        server.onError(seq, (err: unknown) => {
          if (refused(err)) backOff(server, err)
          settle(E.left(driverError(toError(err), !notSent(err))))
        })
        // memjs calls this with its current socket once it is connected and
        // authenticated (at once if it already is), and `write` then writes on
        // that same socket: its response comes back on it. A request whose
        // deadline passed meanwhile is not written at all.
        server.sock(false, (socket) => {
          if (settled) return
          connection = connectionOf(socket)
          writeBatched(socket, buf)
        })
        adopt(server)
      } catch (e) {
        settle(E.left(driverError(e, true)))
      }
    })
  const idle = (): Promise<void> => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve)))
  return { send, idle }
}

/**
 * A driver over a memjs client (see the module notes for what it guards
 * against). Each request is sent once, on the server memjs's hashing picks for
 * its key, with a deadline: when it passes, the result is a `DriverError` with
 * `indeterminate: true` and the connection to that server is reset. A request
 * that could not reach the server (connection refused, connect timeout, failed
 * authentication) gives `indeterminate: false`; a connection lost while it was
 * in flight gives `indeterminate: true`, and so does a reply that is not a
 * binary-protocol response (a {@link MalformedResponseError}: the connection
 * is reset). A response with an error status is a response, not a failure.
 * Each response names the socket that carried its request (`connection`); a
 * request restricted to a connection is sent only while that socket is still
 * the server's current one, and otherwise answered at once with a
 * `ConnectionChangedError` (`indeterminate: false`).
 *
 * The client stays the caller's (close it yourself), or use {@link connectMemcached}.
 *
 * @example
 * import { Client } from 'memjs'
 * import { makeLock } from 'leaselock'
 * import { memcachedStore, memjsDriver } from 'leaselock/memcached'
 *
 * const client = Client.create('localhost:11211', { logger: { log: () => {} } })
 * const lock = makeLock(memcachedStore(memjsDriver(client, { commandTimeoutMs: 1_000 })))
 *
 * @since 0.1.0
 */
export const memjsDriver = (client: Client, options: MemjsDriverOptions = {}): MemcachedDriver => {
  const t = transport(client, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, () => false)
  return { send: (req) => () => t.send(serverFor(client, req.key), req) }
}

const quiet = { log: (): void => undefined }

/** The longest delay a Node.js timer honours (a larger one fires at once). */
const MAX_TIMER_MS = 2_147_483_647

const checkOptions = (options: MemcachedConnectOptions): ReadonlyArray<string> => {
  if (typeof options !== 'object' || options === null) return [`options: expected an object, got ${showValue(options)}`]
  const errors: Array<string> = []
  if (!Array.isArray(options.servers)) errors.push(`servers: expected a list of { host, port }, got ${showValue(options.servers)}`)
  else if (options.servers.length === 0) errors.push('servers: at least one memcached server is needed, got none')
  const servers: ReadonlyArray<unknown> = Array.isArray(options.servers) ? options.servers : []
  servers.forEach((s, i) => {
    const { host, port } = (typeof s === 'object' && s !== null ? s : {}) as Partial<Record<'host' | 'port', unknown>>
    if (typeof host !== 'string' || host === '') errors.push(`servers[${i}].host: expected a host name, got ${showValue(host)}`)
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      errors.push(`servers[${i}].port: expected an integer in 1..65535, got ${showValue(port)}`)
  })
  if ((options.username === undefined) !== (options.password === undefined))
    errors.push('username and password: SASL needs both, got only one')
  if (options.username !== undefined && typeof options.username !== 'string')
    errors.push(`username: expected a string, got ${showValue(options.username)}`)
  if (options.password !== undefined && typeof options.password !== 'string')
    errors.push(`password: expected a string, got a value of type ${typeof options.password}`)
  if (options.keepAlive !== undefined && typeof options.keepAlive !== 'boolean')
    errors.push(`keepAlive: expected a boolean, got ${showValue(options.keepAlive)}`)
  if (options.connectRetries !== undefined && !(Number.isSafeInteger(options.connectRetries) && options.connectRetries >= 0))
    errors.push(`connectRetries: expected a non-negative integer, got ${showValue(options.connectRetries)}`)
  for (const [key, ms] of [
    ['connectTimeoutMs', options.connectTimeoutMs],
    ['commandTimeoutMs', options.commandTimeoutMs]
  ] as const)
    if (ms !== undefined && !(Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_TIMER_MS))
      errors.push(`${key}: expected a whole number of milliseconds in 1..${MAX_TIMER_MS}, got ${showValue(ms)}`)
  return errors
}

interface CheckFailure {
  readonly message: string
  /** The server answered and refused us: retrying cannot help. */
  readonly refusal: boolean
}

/**
 * Checks one server: a NOOP (which also runs the SASL handshake when
 * credentials are set), then an ADD of a throwaway key, which shows whether
 * the server hands out CAS values, and a DELETE of it.
 */
const checkServer = async (t: Transport, server: Server, timeoutMs: number): Promise<E.Either<CheckFailure, void>> => {
  const failed = (cause: unknown): E.Either<CheckFailure, void> =>
    E.left({ message: messageOf(cause), refusal: messageOf(cause) === AUTH_FAILED })
  const noop = await t.send(server, noopRequest, timeoutMs)
  if (E.isLeft(noop)) return failed(noop.left.cause)
  if (noop.right.status !== Status.NoError) return E.left({ message: new StatusError(noop.right.status).message, refusal: true })
  const key = `leaselock:probe:${randomBytes(12).toString('base64url')}`
  const added = await t.send(server, addRequest(key, '', 1), timeoutMs)
  if (E.isLeft(added)) return failed(added.left.cause)
  const cas = decodeAdd(key)(added.right)
  if (E.isLeft(cas)) return E.left({ message: cas.left._tag === 'DriverFailure' ? messageOf(cas.left.cause) : cas.left._tag, refusal: true })
  if (O.isSome(cas.right)) await t.send(server, deleteRequest(key, cas.right.value), timeoutMs)
  return E.right(undefined)
}

const CONNECT_RETRY_MS = 100

/**
 * Creates a memjs client for `servers`, checks every server within the
 * connect deadline and wraps the client in a driver (see {@link memjsDriver}).
 * The check sends each server a NOOP — which connects and, with
 * `username`/`password`, authenticates with SASL PLAIN — and then ADDs and
 * DELETEs a throwaway key, so that a server running with CAS disabled
 * (`memcached -C`) is refused here, with a clear message, rather than at the
 * first lock. A server that cannot be reached is checked again up to
 * `connectRetries` times, 100 ms apart, within the deadline; a refusal (wrong
 * credentials, CAS disabled) is final.
 *
 * Without credentials no SASL is attempted (memjs's fallback to the
 * `MEMCACHIER_*`/`MEMCACHE_*` environment variables is turned off).
 *
 * On failure every socket is closed, and the result is a `ConnectFailed`
 * (code `CONNECT_FAILED`) whose target names the servers that failed
 * (`host:port,…`), or a `ConfigError` for bad options.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectMemcached, memcachedStore } from 'leaselock/memcached'
 *
 * const connected = await connectMemcached({ servers: [{ host: 'localhost', port: Number(process.env.MEMCACHED_PORT ?? 11211) }], connectTimeoutMs: 2_000 })()
 * if (connected._tag === 'Left') throw new Error('no memcached')
 * const lock = makeLock(memcachedStore(connected.right.driver))
 * // ...
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const connectMemcached =
  (options: MemcachedConnectOptions): TE.TaskEither<LockError, MemcachedConnection> =>
  async () => {
    const errors = checkOptions(options)
    if (errors.length > 0) return E.left(configError(errors))
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const servers = options.servers.map((s) => {
      const server = new Server(s.host, s.port, options.username, options.password, {
        timeout: commandTimeoutMs / 1000,
        conntimeout: connectTimeoutMs / 1000,
        keepAlive: options.keepAlive ?? false
      })
      return Object.assign(server, { username: options.username, password: options.password })
    })
    const client = new Client(servers, { retries: 1, failover: false, logger: quiet })
    let closed = false
    const destroy = (): void => {
      for (const server of servers) server.error(new ConnectionClosedError())
    }

    const probe = transport(client, connectTimeoutMs, () => closed)
    const deadline = performance.now() + connectTimeoutMs
    const retries = options.connectRetries ?? 0
    let pending = servers
    for (let attempt = 0; ; attempt++) {
      const remaining = Math.max(1, Math.round(deadline - performance.now()))
      const checks = await Promise.all(pending.map((server) => checkServer(probe, server, remaining)))
      const failed = pending.flatMap((server, i) => {
        const check = checks[i]
        return check !== undefined && E.isLeft(check) ? [{ server, failure: check.left }] : []
      })
      if (failed.length === 0) break
      const retry =
        attempt < retries && failed.every((f) => !f.failure.refusal) && performance.now() + CONNECT_RETRY_MS < deadline
      if (!retry) {
        closed = true
        destroy()
        const target = failed.map((f) => `${f.server.host}:${f.server.port}`).join(',')
        const why =
          failed.length === 1
            ? (failed[0]?.failure.message ?? '')
            : failed.map((f) => `${f.server.host}:${f.server.port}: ${f.failure.message}`).join('; ')
        return E.left(connectFailed(target, new Error(why)))
      }
      pending = failed.map((f) => f.server)
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS))
    }

    const t = transport(client, commandTimeoutMs, () => closed)
    const close = async (): Promise<void> => {
      if (closed) return
      closed = true
      let timer: NodeJS.Timeout | undefined
      await Promise.race([t.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, commandTimeoutMs)))])
      clearTimeout(timer)
      destroy()
    }
    return E.right({ driver: { send: (req) => () => t.send(serverFor(client, req.key), req) }, close })
  }
