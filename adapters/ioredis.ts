/**
 * `leaselock/ioredis`: a {@link RedisDriver} over an ioredis client you
 * already have — a `Redis` (standalone or Sentinel) or a `Cluster` — with the
 * node-redis adapter's guarantees: a deadline on every command, failures that
 * tell whether the command may have run, and a pub/sub subscriber on a
 * `duplicate()` of the client, so a release hands the key straight to the
 * first waiter. Users of node-redlock and redis-semaphore (both ioredis-only)
 * keep their one client.
 *
 * @example
 * import { Redis } from 'ioredis'
 * import { makeLock } from 'leaselock'
 * import { ioredisDriver } from 'leaselock/ioredis'
 * import { redisStore } from 'leaselock/redis'
 *
 * const redis = new Redis({ port: Number(process.env.REDIS_PORT ?? 6379) })
 * const driver = ioredisDriver(redis)
 * const lock = makeLock(redisStore(driver))
 * const done = await lock.withLock('reports:daily', 30_000, { timeoutMs: 5_000 }, (lease) => async () => ({ _tag: 'Right', right: lease.fence }))()
 * assert.strictEqual(done._tag, 'Right')
 * await driver.close()
 * await redis.quit()
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { Cluster, Redis, ReplyError } from 'ioredis'
import { defaultCommandTimeoutMs, defaultConnectTimeoutMs } from '../src/config/options.js'
import { DriverError, driverError } from '../src/Driver.js'
import { RedisReply, fromClientReply } from '../src/redis/RedisReply.js'
import type { RedisDriver, RedisSubscribe } from '../src/redis/redisStore.js'
import { settleOr } from './settle.js'

/**
 * An ioredis client: `Redis` (standalone or Sentinel) or `Cluster`.
 *
 * @example
 * import { Redis } from 'ioredis'
 * import { IoredisClient } from 'leaselock/ioredis'
 * const client: IoredisClient = new Redis({ lazyConnect: true })
 * client.disconnect()
 *
 * @since 0.3.0
 */
export type IoredisClient = Redis | Cluster

/**
 * @example
 * import { IoredisDriverOptions } from 'leaselock/ioredis'
 * const options: IoredisDriverOptions = { commandTimeoutMs: 1_000, connectTimeoutMs: 2_000 }
 *
 * @since 0.3.0
 */
export interface IoredisDriverOptions {
  /** Deadline of each command, from the call until the reply, in ms (default 3000). */
  readonly commandTimeoutMs?: number
  /** Deadline for opening the subscriber connection, in ms (default 5000). */
  readonly connectTimeoutMs?: number
  /** Open a subscriber connection when a lock first waits, for wake-on-release (default `true`). */
  readonly subscribe?: boolean
}

/**
 * A driver over an ioredis client, and the way to close what the driver
 * opened (its subscriber connection; the client stays yours).
 *
 * @example
 * import { IoredisDriver } from 'leaselock/ioredis'
 * const done = (driver: IoredisDriver) => driver.close()
 *
 * @since 0.3.0
 */
export interface IoredisDriver extends RedisDriver {
  /**
   * Closes the subscriber connection, if one was opened, within the command
   * deadline, and removes the driver's listeners from the client; later
   * subscriptions fail. Never rejects.
   */
  readonly close: () => Promise<void>
}

/**
 * A deadline passed before the reply (or before the subscription was
 * confirmed). `sent` tells whether the command had been handed to the
 * connection: if not, it was withdrawn and never runs.
 *
 * @example
 * import { IoredisTimeoutError } from 'leaselock/ioredis'
 * assert.strictEqual(new IoredisTimeoutError(500, false).message, 'Redis (ioredis) did not reply within 500 ms (the command was never sent: the client was not ready)')
 *
 * @since 0.3.0
 */
export class IoredisTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly sent: boolean
  ) {
    super(`Redis (ioredis) did not reply within ${timeoutMs} ms${sent ? '' : ' (the command was never sent: the client was not ready)'}`)
    this.name = 'IoredisTimeoutError'
  }
}

/**
 * The command was not sent: the client is closed (`quit()` or `disconnect()`
 * without reconnection), not ready with its offline queue turned off, or the
 * driver was closed.
 *
 * @example
 * import { IoredisNotReadyError } from 'leaselock/ioredis'
 * assert.strictEqual(new IoredisNotReadyError('end').status, 'end')
 *
 * @since 0.3.0
 */
export class IoredisNotReadyError extends Error {
  constructor(readonly status: string) {
    super(`not sent: the ioredis client is ${status === 'end' ? 'closed' : `not ready (${status}) and its offline queue is off`}`)
    this.name = 'IoredisNotReadyError'
  }
}

/**
 * The connection was lost while the command waited for its reply: it may
 * have run (ioredis may even send it again once reconnected; its reply is
 * then ignored).
 *
 * @example
 * import { IoredisConnectionLostError } from 'leaselock/ioredis'
 * assert.strictEqual(new IoredisConnectionLostError().name, 'IoredisConnectionLostError')
 *
 * @since 0.3.0
 */
export class IoredisConnectionLostError extends Error {
  constructor() {
    super('the connection to Redis (ioredis) was lost while the command waited for its reply')
    this.name = 'IoredisConnectionLostError'
  }
}

/** Commands over the client, each with its deadline: the `send` of {@link ioredisDriver}, and how to stop listening to the client. */
const sender = (client: IoredisClient, timeoutMs: number): { send: RedisDriver['send']; detach: () => void } => {
  /** Commands waiting for the client to be ready, to be sent then. */
  const waiting = new Set<() => void>()
  /** Commands sent and not answered, to be failed if the connection drops. */
  const inFlight = new Set<() => void>()
  const onReady = (): void => {
    const resumes = [...waiting]
    waiting.clear()
    for (const resume of resumes) resume()
  }
  const onClose = (): void => {
    const lost = [...inFlight]
    inFlight.clear()
    for (const fail of lost) fail()
  }
  client.on('ready', onReady)
  client.on('close', onClose)

  const send: RedisDriver['send'] =
    ([name, ...args]) =>
    () =>
      new Promise<E.Either<DriverError, RedisReply>>((resolve) => {
        let sent = false
        let settled = false
        const settle = (result: E.Either<DriverError, RedisReply>): void => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          waiting.delete(trySend)
          inFlight.delete(lost)
          resolve(result)
        }
        const lost = (): void => settle(E.left(driverError(new IoredisConnectionLostError(), true)))
        const timer = setTimeout(() => settle(E.left(driverError(new IoredisTimeoutError(timeoutMs, sent), sent))), timeoutMs)
        const trySend = (): void => {
          if (client.status !== 'ready') {
            if (client.status === 'end' || client.options.enableOfflineQueue === false)
              return settle(E.left(driverError(new IoredisNotReadyError(client.status), false)))
            waiting.add(trySend)
            if (client.status === 'wait') client.connect().catch(() => undefined)
            return
          }
          sent = true
          inFlight.add(lost)
          client.call(name ?? '', args).then(
            (reply) => settle(E.right(fromClientReply(reply))),
            (e: unknown) => settle(e instanceof ReplyError ? E.right(e as Error) : E.left(driverError(e, true)))
          )
        }
        trySend()
      })

  return {
    send,
    detach: () => {
      client.off('ready', onReady)
      client.off('close', onClose)
    }
  }
}

/** Settles with the promise's outcome, or with a timeout after `ms`; leaves no timer behind. */
const within = <A>(promise: Promise<A>, ms: number): Promise<E.Either<unknown, A>> => settleOr(promise, ms, () => new IoredisTimeoutError(ms, true))

/** A new connection with the client's options (address, credentials, reconnection), connected only on demand. */
const duplicateOf = (client: IoredisClient): IoredisClient =>
  client instanceof Cluster ? client.duplicate([], { lazyConnect: true }) : client.duplicate({ lazyConnect: true, autoResubscribe: true })

/** Quits within `ms`, then cuts the connection if it is still open. Never rejects. */
const quitWithin = async (connection: IoredisClient, ms: number): Promise<void> => {
  if (connection.status === 'ready') await within(connection.quit(), ms)
  connection.disconnect()
}

/**
 * The notification side: one `duplicate()` of the client, opened (within the
 * connect deadline) on the first subscription and shared by all; each
 * `SUBSCRIBE` has the command deadline; a failed open is retried by the next
 * subscription. ioredis resubscribes by itself after a reconnection.
 */
const subscriber = (client: IoredisClient, connectTimeoutMs: number, commandTimeoutMs: number): { subscribe: RedisSubscribe; close: () => Promise<void> } => {
  const listeners = new Map<string, (message: string) => void>()
  let current: IoredisClient | undefined
  let opening: Promise<E.Either<DriverError, IoredisClient>> | undefined
  let closed = false

  const open = async (): Promise<E.Either<DriverError, IoredisClient>> => {
    let connection: IoredisClient
    try {
      connection = duplicateOf(client)
    } catch (e) {
      return E.left(driverError(e, false))
    }
    connection.on('error', () => undefined)
    connection.on('message', (channel: string, message: string) => listeners.get(channel)?.(message))
    current = connection
    const connected = await within(connection.connect(), connectTimeoutMs)
    if (E.isRight(connected) && !closed) return E.right(connection)
    connection.disconnect()
    if (current === connection) current = undefined
    return E.left(driverError(E.isLeft(connected) ? connected.left : new IoredisNotReadyError('end'), false))
  }

  return {
    subscribe: (channel, onMessage) => async () => {
      if (closed) return E.left(driverError(new IoredisNotReadyError('end'), false))
      const connection = await (opening ??= open().then((r) => {
        if (E.isLeft(r)) opening = undefined
        return r
      }))
      if (E.isLeft(connection)) return connection
      listeners.set(channel, onMessage)
      const subscribed = await within(connection.right.subscribe(channel), commandTimeoutMs)
      if (E.isRight(subscribed)) return E.right(undefined)
      listeners.delete(channel)
      return E.left(driverError(subscribed.left, true))
    },
    close: async () => {
      closed = true
      listeners.clear()
      const connection = current
      current = undefined
      if (connection !== undefined) await quitWithin(connection, commandTimeoutMs)
    }
  }
}

/**
 * A driver over an ioredis client you already have, standalone, Sentinel or
 * Cluster:
 *
 * - **deadlines**: each command has its own (`commandTimeoutMs`, default
 *   3000 ms; ioredis by itself waits for a reply for ever, and re-sends
 *   unanswered commands after a reconnection);
 * - **indeterminate reporting**: a command is handed to ioredis only while the
 *   client is `ready`. Sent, a failure or a passed deadline is a `DriverError`
 *   with `indeterminate: true` (it may have run). Sent while the client is
 *   connecting or reconnecting, it waits in the driver — not in ioredis's
 *   offline queue, whence it could not be withdrawn — and if its deadline
 *   passes first it is withdrawn, never sent: `indeterminate: false`. A closed
 *   client (or one not ready whose `enableOfflineQueue` is off) fails at once,
 *   also `indeterminate: false`. A connection lost while a command waits for
 *   its reply fails it at once, `indeterminate: true` (ioredis may send it
 *   again after reconnecting: its reply is ignored). An error reply is a
 *   reply, not a failure: a `Right` holding the `Error`;
 * - **wake-on-release**: `subscribe` opens one `duplicate()` of the client
 *   (same address, credentials and options), the first time a lock waits;
 *   `close()` closes it (and removes the driver's listeners from the client).
 *   Pass `subscribe: false` for a driver without it (waiters then poll).
 *
 * The client stays yours: give it an `'error'` listener, keep its
 * `stringNumbers` off (the default: the lock scripts answer integers), and
 * close it after the driver. On a `Cluster`, keys and their companions share a
 * slot by their hash tags; the wake-ups travel by `PUBLISH`, which a cluster
 * broadcasts to every node.
 *
 * @example
 * import { Redis } from 'ioredis'
 * import { makeLock } from 'leaselock'
 * import { ioredisDriver } from 'leaselock/ioredis'
 * import { redisStore } from 'leaselock/redis'
 *
 * const redis = new Redis({ port: Number(process.env.REDIS_PORT ?? 6379) })
 * redis.on('error', () => {})
 * const driver = ioredisDriver(redis, { commandTimeoutMs: 1_000 })
 * const lock = makeLock(redisStore(driver))
 * const lease = await lock.acquire('invoices:run', 10_000, 2_000)()
 * assert.ok(lease._tag === 'Right')
 * await lock.release(lease.right)()
 * await driver.close()
 * await redis.quit()
 *
 * @since 0.3.0
 */
export const ioredisDriver = (client: IoredisClient, options: IoredisDriverOptions = {}): IoredisDriver => {
  const commandTimeoutMs = options.commandTimeoutMs ?? defaultCommandTimeoutMs
  const { send, detach } = sender(client, commandTimeoutMs)
  if (options.subscribe === false)
    return {
      send,
      close: () => {
        detach()
        return Promise.resolve()
      }
    }
  const notifications = subscriber(client, options.connectTimeoutMs ?? defaultConnectTimeoutMs, commandTimeoutMs)
  return {
    send,
    subscribe: notifications.subscribe,
    close: () => {
      detach()
      return notifications.close()
    }
  }
}
