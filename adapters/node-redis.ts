/**
 * The node-redis adapter: a {@link RedisDriver} over a node-redis client
 * (`redis` package, v5 and later), and `connectRedis`, which creates, guards and
 * connects such a client.
 *
 * Deadlines: node-redis's own command timeout stops applying once a command is
 * written to the socket, and its `connect()` never settles while the server is
 * down (it keeps reconnecting). So every command sent through the driver has
 * its own deadline (default {@link DEFAULT_COMMAND_TIMEOUT_MS}), and
 * `connectRedis` has one too (default {@link DEFAULT_CONNECT_TIMEOUT_MS}).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { AbortError, ClientClosedError, ClientOfflineError, ErrorReply, createClient } from 'redis'
import { defaultCommandTimeoutMs, defaultConnectTimeoutMs } from '../src/config/options.js'
import { DriverError, driverError } from '../src/Driver.js'
import { LockError, configError, driverFailure } from '../src/LockError.js'
import type { RedisConnection, RedisConnectOptions } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import type { RedisDriver } from '../src/redis/redisStore.js'

/**
 * The default deadline of one command, from the call until the reply: 3000 ms
 * (the same as a lock component's `options.command_timeout`).
 *
 * @example
 * import { DEFAULT_COMMAND_TIMEOUT_MS } from 'leaselock/redis'
 * assert.strictEqual(DEFAULT_COMMAND_TIMEOUT_MS, 3000)
 *
 * @since 0.1.0
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = defaultCommandTimeoutMs

/**
 * The default deadline for connecting (TCP, TLS, authentication, `SELECT`): 5000 ms
 * (the same as a lock component's `options.connect_timeout`).
 *
 * @example
 * import { DEFAULT_CONNECT_TIMEOUT_MS } from 'leaselock/redis'
 * assert.strictEqual(DEFAULT_CONNECT_TIMEOUT_MS, 5000)
 *
 * @since 0.1.0
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = defaultConnectTimeoutMs

/**
 * What the driver needs from a node-redis client: `sendCommand` with an abort
 * signal. Any `createClient()` result fits.
 *
 * @example
 * import { createClient } from 'redis'
 * import { NodeRedisClient } from 'leaselock/redis'
 * const client: NodeRedisClient = createClient()
 *
 * @since 0.1.0
 */
export interface NodeRedisClient {
  readonly sendCommand: (args: ReadonlyArray<string>, options?: { abortSignal?: AbortSignal }) => Promise<unknown>
}

/**
 * @example
 * import { NodeRedisDriverOptions } from 'leaselock/redis'
 * const fast: NodeRedisDriverOptions = { commandTimeoutMs: 500 }
 *
 * @since 0.1.0
 */
export interface NodeRedisDriverOptions {
  /** Deadline of each command in ms ({@link DEFAULT_COMMAND_TIMEOUT_MS} by default). */
  readonly commandTimeoutMs?: number
}

/** A RESP3 map, set or other structured value, flattened the way RESP2 would send it. */
const toReply = (u: unknown): RedisReply => {
  if (u === null || typeof u === 'string' || typeof u === 'number' || typeof u === 'bigint' || u instanceof Error) return u
  if (u === undefined) return null
  if (typeof u === 'boolean') return u ? 1 : null
  if (Buffer.isBuffer(u)) return u.toString('utf8')
  if (Array.isArray(u)) return u.map(toReply)
  if (u instanceof Map) return [...u].flatMap(([k, v]) => [toReply(k), toReply(v)])
  if (u instanceof Set) return [...u].map(toReply)
  if (typeof u === 'object') return Object.entries(u).flatMap(([k, v]) => [k, toReply(v)])
  return String(u)
}

/**
 * A deadline passed before the reply came; the command may or may not have run.
 *
 * @example
 * import { CommandTimeoutError } from 'leaselock/redis'
 * import { DriverFailure } from 'leaselock'
 * const timedOut = (e: DriverFailure): boolean => e.cause instanceof CommandTimeoutError
 *
 * @since 0.1.0
 */
export class CommandTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`Redis did not reply within ${timeoutMs} ms`)
    this.name = 'CommandTimeoutError'
  }
}

/**
 * Failures that certainly happened before the command reached the server: the
 * client is closed or offline, the command was still queued when its deadline
 * passed (and was withdrawn), or the queue was full.
 */
const notSent = (e: unknown): boolean =>
  e instanceof ClientClosedError ||
  e instanceof ClientOfflineError ||
  e instanceof AbortError ||
  (e instanceof Error && e.message === 'The queue is full')

/**
 * A driver over a node-redis client. Each command gets a deadline: when it
 * passes, a command still waiting in the client's queue is withdrawn (a
 * `DriverError` with `indeterminate: false`); one already written is given up
 * on (`indeterminate: true`, its reply is ignored). A closed or offline client
 * gives `indeterminate: false`; a connection lost while a command was in flight
 * gives `indeterminate: true`. An error reply from the server (`-ERR`,
 * `-NOSCRIPT`) is a reply, not a failure: a `Right` holding the `Error`.
 *
 * Replies are the same under RESP2 and RESP3. The client stays the caller's: give
 * it an `'error'` listener (a node-redis client without one crashes the process
 * when the connection drops) and close it yourself — or use {@link connectRedis}.
 *
 * @example
 * import { createClient } from 'redis'
 * import { makeLock } from 'leaselock'
 * import { nodeRedisDriver, redisStore } from 'leaselock/redis'
 *
 * const client = createClient({ url: 'redis://localhost:6379', disableOfflineQueue: true })
 * client.on('error', () => {})
 * await client.connect()
 * const lock = makeLock(redisStore(nodeRedisDriver(client, { commandTimeoutMs: 1_000 })))
 *
 * @since 0.1.0
 */
export const nodeRedisDriver = (client: NodeRedisClient, options: NodeRedisDriverOptions = {}): RedisDriver => {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  return {
    send: (command) => () =>
      new Promise<E.Either<DriverError, RedisReply>>((resolve) => {
        const controller = new AbortController()
        let settled = false
        const settle = (result: E.Either<DriverError, RedisReply>): void => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(result)
        }
        const timer = setTimeout(() => {
          // Withdraws the command if it is still queued: its promise then rejects with
          // AbortError before the check below runs. A command already written is not affected.
          controller.abort()
          setImmediate(() => settle(E.left(driverError(new CommandTimeoutError(timeoutMs), true))))
        }, timeoutMs)
        let sent: Promise<unknown>
        try {
          sent = client.sendCommand(command, { abortSignal: controller.signal })
        } catch (e) {
          return settle(E.left(driverError(e, false)))
        }
        sent.then(
          (reply) => settle(E.right(toReply(reply))),
          (e: unknown) =>
            settle(
              e instanceof ErrorReply
                ? E.right(e)
                : e instanceof AbortError
                  ? E.left(driverError(new CommandTimeoutError(timeoutMs), false))
                  : E.left(driverError(e, !notSent(e)))
            )
        )
      })
  }
}

/** Where a connection goes, for messages: the URI without its password, or host:port. */
const describeTarget = (options: RedisConnectOptions): string => {
  if (options.uri === undefined) return `${options.host ?? 'localhost'}:${options.port ?? 6379}`
  try {
    const url = new URL(options.uri)
    if (url.password !== '') url.password = '***'
    return url.toString()
  } catch {
    return 'an unparsable URI'
  }
}

/**
 * Why a handshake can never succeed by retrying: the server refused our
 * credentials or database (an error reply), rather than being unreachable.
 */
const isRefusal = (e: unknown): boolean => e instanceof ErrorReply

const CONNECT_RETRY_MS = 100
const RECONNECT_MAX_MS = 2000

/**
 * Creates a node-redis client, connects it within a deadline and wraps it in a
 * driver. The client:
 *
 * - has an `'error'` listener, so a dropped connection never crashes the process;
 * - reconnects by itself after a drop (backoff from 50 ms up to 2 s), while
 *   commands sent meanwhile fail at once (`disableOfflineQueue`) instead of
 *   waiting for the server;
 * - while connecting, retries every 100 ms until the deadline (or
 *   `connectRetries` times), but gives up at once when the server refuses the
 *   handshake (wrong password, `NOAUTH`, a bad database), reporting the
 *   server's message.
 *
 * On failure no socket or timer is left behind (the client is destroyed), and
 * the result is a `DriverFailure` whose key names the target (the URI without
 * its password, or `host:port`), or a `ConfigError` for a URI node-redis
 * cannot parse.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ host: 'localhost', port: 6379, password: 'secret', connectTimeoutMs: 2_000 })()
 * if (connected._tag === 'Left') throw new Error('no Redis')
 * const lock = makeLock(redisStore(connected.right.driver))
 * // ...
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const connectRedis =
  (options: RedisConnectOptions = {}): TE.TaskEither<LockError, RedisConnection> =>
  () => {
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const connectRetries = options.connectRetries ?? Infinity
    const target = describeTarget(options)
    let connected = false
    let deadlinePassed = false
    let refused = false
    let lastError: unknown
    let client: ReturnType<typeof createClient>
    try {
      client = createClient({
        ...(options.uri !== undefined ? { url: options.uri } : {}),
        socket: {
          ...(options.uri === undefined ? { host: options.host ?? 'localhost', port: options.port ?? 6379 } : {}),
          connectTimeout: connectTimeoutMs,
          reconnectStrategy: (retries, cause) => {
            if (connected) return Math.min(50 * 2 ** Math.min(retries, 6), RECONNECT_MAX_MS)
            lastError = cause
            refused = isRefusal(cause)
            return refused || deadlinePassed || retries >= connectRetries ? cause : CONNECT_RETRY_MS
          }
        },
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        ...(options.database !== undefined ? { database: options.database } : {}),
        disableOfflineQueue: true,
        maintNotifications: 'disabled'
      })
    } catch (e) {
      return Promise.resolve(
        E.left(configError([`uri: ${e instanceof Error ? e.message : String(e)}, got ${JSON.stringify(target)}`]))
      )
    }
    client.on('error', (e: unknown) => {
      lastError = e
    })

    const failure = (why: string): LockError => {
      const cause = lastError instanceof Error ? lastError.message : lastError === undefined ? 'no answer' : String(lastError)
      return driverFailure(target, new Error(`Cannot connect to Redis at ${target}: ${why}: ${cause}`, { cause: lastError }), false)
    }

    const close = async (): Promise<void> => {
      if (!client.isOpen) return client.destroy()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        client.close().catch(() => undefined),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, commandTimeoutMs)))
      ])
      clearTimeout(timer)
      if (client.isOpen) client.destroy()
    }

    return new Promise<E.Either<LockError, RedisConnection>>((resolve) => {
      const timer = setTimeout(() => {
        deadlinePassed = true
        client.destroy()
        resolve(E.left(failure(`no connection within ${connectTimeoutMs} ms`)))
      }, connectTimeoutMs)
      client.connect().then(
        () => {
          clearTimeout(timer)
          connected = true
          resolve(E.right({ driver: nodeRedisDriver(client, { commandTimeoutMs }), close }))
        },
        () => {
          clearTimeout(timer)
          client.destroy()
          resolve(E.left(failure(refused ? 'the server refused the connection' : 'connection failed')))
        }
      )
    })
  }
