/**
 * The node-redis adapter: a {@link RedisDriver} over a node-redis client
 * (`redis` package, v5 and later), a pub/sub subscriber for wake-on-release,
 * and `connectRedis`, which creates, guards and connects such a client.
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
import { ClientClosedError, ErrorReply, createClient } from 'redis'
import { defaultCommandTimeoutMs, defaultConnectTimeoutMs } from '../src/config/options.js'
import { DriverError, driverError } from '../src/Driver.js'
import { LockError, configError, connectFailed } from '../src/LockError.js'
import type { RedisConnection, RedisConnectOptions } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import type { RedisDriver, RedisSubscribe } from '../src/redis/redisStore.js'
import type { Environment } from '../src/Environment.js'
import { SendCommand, checkOptions, isNotSent, optionRules, outageOf, reconnectDelay, replyOf, sendAndWaitWithin, sendWithin, settleWithin } from './node-redis-common.js'

export { CommandTimeoutError } from './node-redis-common.js'


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
  /**
   * Give each command an abort signal, so that one still waiting in the
   * client's offline queue at its deadline is withdrawn rather than run late
   * (default `true`). A client created with `disableOfflineQueue: true` (as
   * {@link connectRedis} creates it) never holds commands back, and can turn
   * this off: the signal costs more CPU than the rest of a command's handling.
   */
  readonly withdrawQueued?: boolean
}

/**
 * A driver over a node-redis client. Each command gets a deadline: when it
 * passes, a command still waiting in the client's queue is withdrawn (a
 * `DriverError` with `indeterminate: false`); one already written is given up
 * on (`indeterminate: true`, its reply is ignored). A closed or offline client
 * gives `indeterminate: false`; a connection lost while a command was in flight
 * gives `indeterminate: true`. An error reply from the server (`-ERR`,
 * `-NOSCRIPT`) is a reply, not a failure: a `Right` holding the `Error`.
 * `sendAndWait` (for `syncReplicas`) writes the command and `WAIT` in the same
 * tick, so they travel together on the client's one connection; the pair's
 * deadline is the command deadline plus the `WAIT` timeout.
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
 * const client = createClient({ url: `redis://localhost:${process.env.REDIS_PORT ?? 6379}`, disableOfflineQueue: true })
 * client.on('error', () => {})
 * await client.connect()
 * const lock = makeLock(redisStore(nodeRedisDriver(client, { commandTimeoutMs: 1_000 })))
 * assert.strictEqual((await lock.tryAcquire('reports:daily', 1_000)())._tag, 'Right')
 * await client.close()
 *
 * @since 0.1.0
 */
export const nodeRedisDriver = (client: NodeRedisClient, options: NodeRedisDriverOptions = {}): RedisDriver => sendersOf(client, options)

/** {@link nodeRedisDriver}'s two ways of sending, both present. */
const sendersOf = (client: NodeRedisClient, options: NodeRedisDriverOptions): Required<Pick<RedisDriver, 'send' | 'sendAndWait'>> => {
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  const withdrawQueued = options.withdrawQueued ?? true
  const sendCommand: SendCommand = (args, opts) => client.sendCommand(args, opts)
  // One client is one connection, and two commands sent in the same tick are written on it together.
  const sendBoth = (command: ReadonlyArray<string>, wait: ReadonlyArray<string>): Promise<readonly [RedisReply, RedisReply]> =>
    Promise.all([replyOf(client.sendCommand(command)), replyOf(client.sendCommand(wait))])
  return {
    send: (command) => () => sendWithin(sendCommand, command, timeoutMs, withdrawQueued),
    sendAndWait: (command, replicas, waitMs) => () => sendAndWaitWithin(sendBoth, command, replicas, waitMs, timeoutMs)
  }
}

/**
 * What {@link nodeRedisSubscriber} needs from the connection it opens: any
 * node-redis client fits.
 *
 * @example
 * import { createClient } from 'redis'
 * import { NodeRedisPubSubClient } from 'leaselock/redis'
 * const subscriber: NodeRedisPubSubClient = createClient().duplicate()
 *
 * @since 0.1.0
 */
export interface NodeRedisPubSubClient {
  readonly isOpen: boolean
  readonly on: (event: 'error', listener: (e: unknown) => void) => unknown
  readonly connect: () => Promise<unknown>
  readonly subscribe: (channel: string, listener: (message: string) => unknown) => Promise<unknown>
  readonly close: () => Promise<unknown>
  readonly destroy: () => unknown
}

/**
 * A client the subscriber can `duplicate()` (a new connection with the same
 * options): any node-redis client.
 *
 * @example
 * import { createClient } from 'redis'
 * import { NodeRedisDuplicable } from 'leaselock/redis'
 * const client: NodeRedisDuplicable = createClient()
 *
 * @since 0.1.0
 */
export interface NodeRedisDuplicable {
  readonly duplicate: () => NodeRedisPubSubClient
}

/**
 * @example
 * import { NodeRedisSubscriberOptions } from 'leaselock/redis'
 * const options: NodeRedisSubscriberOptions = { connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 }
 *
 * @since 0.1.0
 */
export interface NodeRedisSubscriberOptions {
  /** Deadline for opening the subscriber connection, in ms ({@link DEFAULT_CONNECT_TIMEOUT_MS} by default). */
  readonly connectTimeoutMs?: number
  /** Deadline of each `SUBSCRIBE`, and of closing, in ms ({@link DEFAULT_COMMAND_TIMEOUT_MS} by default). */
  readonly commandTimeoutMs?: number
}

/**
 * A subscriber connection and the way to close it.
 *
 * @example
 * import { NodeRedisSubscriber } from 'leaselock/redis'
 * const stop = (s: NodeRedisSubscriber) => s.close()
 *
 * @since 0.1.0
 */
export interface NodeRedisSubscriber {
  /** Subscribes over the one subscriber connection, opening it on first use (see `RedisSubscribe`). */
  readonly subscribe: RedisSubscribe
  /** Closes the subscriber connection, if one was opened, within the command timeout. Never rejects; later subscriptions fail. */
  readonly close: () => Promise<void>
}

/** Closes a node-redis client within `ms`, then cuts its socket if it is still open. Never rejects. */
const closeWithin = async (client: NodeRedisPubSubClient, ms: number): Promise<void> => {
  if (client.isOpen) await settleWithin(client.close(), ms)
  client.destroy()
}

/**
 * The notification side of wake-on-release for node-redis: one extra
 * connection (`client.duplicate()`, so it has the client's address,
 * credentials and reconnection), opened on the first `subscribe` and shared
 * by all its subscriptions. Opening has the connect deadline and each
 * `SUBSCRIBE` the command deadline; a failed open is retried by the next
 * `subscribe`. After a dropped connection node-redis reconnects and
 * resubscribes by itself; messages published meanwhile are lost (waiters poll).
 * `connectRedis` builds one into its driver; with a client of your own,
 * combine the two and close both:
 *
 * @example
 * import { createClient } from 'redis'
 * import { makeLock } from 'leaselock'
 * import { nodeRedisDriver, nodeRedisSubscriber, redisStore } from 'leaselock/redis'
 *
 * const client = createClient({ url: `redis://localhost:${process.env.REDIS_PORT ?? 6379}`, disableOfflineQueue: true })
 * client.on('error', () => {})
 * await client.connect()
 * const subscriber = nodeRedisSubscriber(client)
 * const lock = makeLock(redisStore({ ...nodeRedisDriver(client), subscribe: subscriber.subscribe }))
 * // ...
 * await subscriber.close()
 * await client.close()
 *
 * @since 0.1.0
 */
export const nodeRedisSubscriber = (client: NodeRedisDuplicable, options: NodeRedisSubscriberOptions = {}): NodeRedisSubscriber => {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  let current: NodeRedisPubSubClient | undefined
  let opening: Promise<E.Either<DriverError, NodeRedisPubSubClient>> | undefined
  let closed = false

  const open = async (): Promise<E.Either<DriverError, NodeRedisPubSubClient>> => {
    let connection: NodeRedisPubSubClient
    try {
      connection = client.duplicate()
    } catch (e) {
      return E.left(driverError(e, false))
    }
    connection.on('error', () => undefined)
    current = connection
    const connected = await settleWithin(connection.connect(), connectTimeoutMs)
    if (E.isRight(connected) && !closed) return E.right(connection)
    connection.destroy()
    if (current === connection) current = undefined
    return E.left(driverError(E.isLeft(connected) ? connected.left : new ClientClosedError(), false))
  }

  return {
    subscribe: (channel, onMessage) => async () => {
      if (closed) return E.left(driverError(new ClientClosedError(), false))
      const connection = await (opening ??= open().then((r) => {
        if (E.isLeft(r)) opening = undefined
        return r
      }))
      if (E.isLeft(connection)) return connection
      const subscribed = await settleWithin(connection.right.subscribe(channel, (message) => onMessage(message)), commandTimeoutMs)
      return E.isRight(subscribed) ? E.right(undefined) : E.left(driverError(subscribed.left, !isNotSent(subscribed.left)))
    },
    close: async () => {
      closed = true
      const connection = current
      current = undefined
      if (connection !== undefined) await closeWithin(connection, commandTimeoutMs)
    }
  }
}

/** Where a connection goes, for messages, never with credentials: the URI's scheme, host and port, or host:port. */
const describeTarget = (options: RedisConnectOptions): string => {
  if (options.uri === undefined) return `${options.host ?? 'localhost'}:${options.port ?? 6379}`
  try {
    const url = new URL(options.uri)
    return `${url.protocol}//${url.host}`
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
/** What is wrong with the options, one message per option; passwords are never shown. */
const checkConnectOptions = (options: RedisConnectOptions): ReadonlyArray<string> =>
  checkOptions(options, [
    ['uri', optionRules.nonEmpty[0], 'a redis:// or rediss:// URI'],
    ['host', ...optionRules.host],
    ['port', ...optionRules.port],
    ['username', ...optionRules.string],
    ['password', ...optionRules.string],
    ['database', ...optionRules.database],
    ['connectTimeoutMs', ...optionRules.timeout],
    ['commandTimeoutMs', ...optionRules.timeout],
    ['connectRetries', ...optionRules.retries]
  ])

/**
 * Creates a node-redis client, connects it within a deadline and wraps it in a
 * driver. The client:
 *
 * - has an `'error'` listener, so a dropped connection never crashes the process;
 * - reconnects by itself after a drop: at once, then after a jittered wait
 *   that doubles from 50 ms up to `RECONNECT_MAX_MS` (1 s; see
 *   `reconnectDelay`, drawn with `env.random`), so a dead node sees about one
 *   connection attempt a second and a node that comes back is used again
 *   within about a second. Commands sent meanwhile are not queued and open no
 *   socket: they fail at once with a determinate `DriverFailure` whose cause,
 *   a `RedisServerDownError`, says the node is down and when it is next tried;
 * - while connecting, retries every 100 ms until the deadline (or
 *   `connectRetries` times), but gives up at once when the server refuses the
 *   handshake (wrong password, `NOAUTH`, a bad database), reporting the
 *   server's message.
 *
 * The driver can `subscribe` (see {@link nodeRedisSubscriber}): a second
 * connection, opened only when a lock first waits, lets `redisStore` hand
 * released keys straight to waiters. `close` closes both connections.
 *
 * On failure no socket or timer is left behind (the client is destroyed), and
 * the result is a `ConnectFailed` (code `CONNECT_FAILED`) naming the target
 * (the URI's scheme, host and port, or `host:port`: never credentials), or a
 * `ConfigError` for options of the wrong type or range (checked before any
 * I/O, every bad option named) or a URI node-redis cannot parse.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ host: 'localhost', port: Number(process.env.REDIS_PORT ?? 6379), connectTimeoutMs: 2_000 })()
 * if (connected._tag === 'Left') throw new Error('no Redis')
 * const lock = makeLock(redisStore(connected.right.driver))
 * // ...
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const connectRedis =
  (options: RedisConnectOptions = {}, env: Pick<Environment, 'random'> = { random: Math.random }): TE.TaskEither<LockError, RedisConnection> =>
  () => {
    const invalid = checkConnectOptions(options)
    if (invalid.length > 0) return Promise.resolve(E.left(configError(invalid)))
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const connectRetries = options.connectRetries ?? Infinity
    const target = describeTarget(options)
    let connected = false
    let deadlinePassed = false
    let refused = false
    let lastError: unknown
    const outage = outageOf(target, env.random, () => performance.now())
    const place = {
      ...(options.uri === undefined ? { host: options.host ?? 'localhost', port: options.port ?? 6379 } : {}),
      connectTimeout: connectTimeoutMs
    }
    let client: ReturnType<typeof createClient>
    try {
      client = createClient({
        ...(options.uri !== undefined ? { url: options.uri } : {}),
        socket: {
          ...place,
          reconnectStrategy: (retries, cause) => {
            if (connected) return outage.reconnectStrategy(retries, cause)
            lastError = cause
            refused = isRefusal(cause)
            return refused || deadlinePassed || retries >= connectRetries ? cause : CONNECT_RETRY_MS
          }
        },
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        ...(options.database !== undefined ? { database: options.database } : {}),
        disableOfflineQueue: true,
        // The driver puts its own deadline on every command; node-redis's default one
        // (an AbortSignal.timeout per command) would only double the cost.
        commandOptions: { timeout: 0 },
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
    client.on('ready', outage.up)

    const failure = (why: string): LockError => {
      const cause = lastError instanceof Error ? lastError.message : lastError === undefined ? 'no answer' : String(lastError)
      return connectFailed(target, new Error(`${why}: ${cause}`, { cause: lastError }))
    }

    // The subscriber's connection backs off on its own schedule, not recorded as the command connection's outage.
    const subscriber = nodeRedisSubscriber(
      { duplicate: () => client.duplicate({ socket: { ...place, reconnectStrategy: (retries) => reconnectDelay(retries, env.random) } }) },
      { connectTimeoutMs, commandTimeoutMs }
    )
    const close = async (): Promise<void> => {
      await Promise.all([closeWithin(client, commandTimeoutMs), subscriber.close()])
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
          const driver = sendersOf(client, { commandTimeoutMs, withdrawQueued: false })
          // While the client is open but not ready, a command is answered from the outage, before node-redis sees it.
          const down = (): E.Either<DriverError, never> | undefined => {
            const error = client.isOpen && !client.isReady ? outage.downError() : undefined
            return error === undefined ? undefined : E.left(driverError(error, false))
          }
          resolve(
            E.right({
              driver: {
                send: (command) => () => Promise.resolve(down() ?? driver.send(command)()),
                sendAndWait: (command, replicas, waitMs) => () => Promise.resolve(down() ?? driver.sendAndWait(command, replicas, waitMs)()),
                subscribe: subscriber.subscribe
              },
              close
            })
          )
        },
        () => {
          clearTimeout(timer)
          client.destroy()
          resolve(E.left(failure(refused ? 'the server refused the connection' : 'connection failed')))
        }
      )
    })
  }
