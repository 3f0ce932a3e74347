/**
 * The Redis Sentinel adapter: `connectRedisSentinel`, a {@link RedisDriver}
 * over node-redis's own Sentinel client (`createSentinel`), which asks the
 * sentinels for the primary, and follows a failover to the promoted replica.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { ClientClosedError, MultiErrorReply, createSentinel } from 'redis'
import { driverError } from '../src/Driver.js'
import { LockError, configError, connectFailed } from '../src/LockError.js'
import type { RedisConnection, RedisSentinelConnectOptions } from '../src/redis/RedisConnection.js'
import { RedisReply, fromClientReply } from '../src/redis/RedisReply.js'
import type { RedisDriver } from '../src/redis/redisStore.js'
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from './node-redis.js'
import { SendCommand, checkOptions, isNotSent, optionRules, sendAndWaitWithin, sendWithin, settleWithin } from './node-redis-common.js'

const RECONNECT_MAX_MS = 1000

/**
 * Connects to the primary that the sentinels monitor under `name`, through
 * node-redis's `createSentinel`, within a deadline, and answers the same
 * `RedisConnection` as `connectRedis`, so `redisStore(connection.driver)` and
 * the lock core work unchanged:
 *
 * - **failover**: node-redis learns of a promotion from the sentinels and
 *   moves its connections (commands and pub/sub) to the new primary. A
 *   command that was in flight when the primary failed, or that met a demoted
 *   primary (`READONLY`), is **sent again** to the new one: every lock script
 *   is idempotent for its token (a re-sent acquire answers the grant it won; a
 *   re-sent release or extend compares the token, so it never acts on a later
 *   holder). A command still waiting for the new primary at its deadline is
 *   withdrawn (each command carries an abort signal).
 * - **deadlines**: finding the primary and connecting within
 *   `connectTimeoutMs` (default 5000), each command within `commandTimeoutMs`
 *   (default 3000), re-sends included; failures are judged determinate or
 *   not as with `connectRedis`.
 * - **wake-on-release** subscribes through node-redis's Sentinel pub/sub
 *   connection (to the primary, moved on failover; messages published during
 *   the move are lost, and waiters poll).
 * - **`syncReplicas`**: `sendAndWait` sends the script and `WAIT` as one
 *   pipeline, which node-redis re-sends as a whole after a failover.
 *
 * `username`, `password` and `database` apply to the primary (the sentinels
 * are asked without credentials). Failures to connect are `ConnectFailed`
 * naming the sentinels; bad options are a `ConfigError` before any I/O.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedisSentinel, redisStore } from 'leaselock/redis'
 *
 * // The sentinels, e.g. "10.0.0.1:26379,10.0.0.2:26379", and the name they watch the primary by.
 * const sentinels = (process.env.REDIS_SENTINELS ?? 'localhost:26379').split(',').map((node) => {
 *   const [host, port] = node.split(':')
 *   return { host: host ?? 'localhost', port: Number(port) }
 * })
 * const connected = await connectRedisSentinel({ name: process.env.REDIS_SENTINEL_NAME ?? 'mymaster', sentinels })()
 * if (connected._tag === 'Left') throw new Error('no primary')
 * const lock = makeLock(redisStore(connected.right.driver, { syncReplicas: 1 }))
 * const lease = await lock.acquire('nightly-export', 10_000, 1_000)()
 * assert.strictEqual(lease._tag, 'Right') // acknowledged by the replica
 * if (lease._tag === 'Right') await lock.release(lease.right)()
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const connectRedisSentinel =
  (options: RedisSentinelConnectOptions): TE.TaskEither<LockError, RedisConnection> =>
  () => {
    const invalid = checkOptions(
      options,
      [
        ['name', ...optionRules.nonEmpty],
        ['sentinels', ...optionRules.nodes],
        ['username', ...optionRules.string],
        ['password', ...optionRules.string],
        ['database', ...optionRules.database],
        ['connectTimeoutMs', ...optionRules.timeout],
        ['commandTimeoutMs', ...optionRules.timeout]
      ],
      ['name', 'sentinels']
    )
    if (invalid.length > 0) return Promise.resolve(E.left(configError(invalid)))
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const target = `${options.name} via ${options.sentinels.map(({ host, port }) => `${host}:${port}`).join(', ')}`
    let lastError: unknown
    let closed = false
    const reconnectStrategy = (retries: number, cause: Error): number => {
      lastError = cause
      return Math.min(50 * 2 ** Math.min(retries, 5), RECONNECT_MAX_MS)
    }
    const sentinel = createSentinel({
      name: options.name,
      sentinelRootNodes: options.sentinels.map(({ host, port }) => ({ host, port })),
      nodeClientOptions: {
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        ...(options.database !== undefined ? { database: options.database } : {}),
        socket: { connectTimeout: connectTimeoutMs, reconnectStrategy },
        disableOfflineQueue: true,
        maintNotifications: 'disabled'
      },
      sentinelClientOptions: { socket: { connectTimeout: connectTimeoutMs, reconnectStrategy } },
      // Each command has the driver's own deadline (and abort signal) instead.
      commandOptions: { timeout: 0 }
    })
    sentinel.on('error', (e: unknown) => {
      lastError = e
    })

    const sendCommand: SendCommand = (args, opts) => sentinel.sendCommand(false, [...args], opts)

    /** One pipeline, so node-redis sends (and re-sends) the two together on one connection to the primary. */
    const sendBoth = async (command: ReadonlyArray<string>, wait: ReadonlyArray<string>): Promise<readonly [RedisReply, RedisReply]> => {
      try {
        const [reply, acknowledged] = await sentinel.multi().addCommand(false, [...command]).addCommand(false, [...wait]).execAsPipeline()
        return [fromClientReply(reply), fromClientReply(acknowledged)]
      } catch (e) {
        if (!(e instanceof MultiErrorReply)) throw e
        return [fromClientReply(e.replies[0]), fromClientReply(e.replies[1])]
      }
    }

    const driver: RedisDriver = {
      send: (command) => () => sendWithin(sendCommand, command, commandTimeoutMs, true),
      sendAndWait: (command, replicas, waitMs) => () => sendAndWaitWithin(sendBoth, command, replicas, waitMs, commandTimeoutMs),
      subscribe: (channel, onMessage) => async () => {
        if (closed) return E.left(driverError(new ClientClosedError(), false))
        const subscribed = await settleWithin(
          sentinel.subscribe(channel, (message: string) => onMessage(message)),
          connectTimeoutMs + commandTimeoutMs
        )
        return E.isRight(subscribed) ? E.right(undefined) : E.left(driverError(subscribed.left, !isNotSent(subscribed.left)))
      }
    }

    const destroy = (): Promise<void> => sentinel.destroy().catch(() => undefined)
    const close = async (): Promise<void> => {
      closed = true
      await settleWithin(sentinel.close(), commandTimeoutMs)
      await destroy()
    }

    const failure = (why: string): LockError => {
      const cause = lastError instanceof Error ? lastError.message : lastError === undefined ? 'no answer' : String(lastError)
      return connectFailed(target, new Error(`${why}: ${cause}`, { cause: lastError }))
    }

    return new Promise<E.Either<LockError, RedisConnection>>((resolve) => {
      const timer = setTimeout(() => {
        void destroy()
        resolve(E.left(failure(`no primary within ${connectTimeoutMs} ms`)))
      }, connectTimeoutMs)
      sentinel.connect().then(
        () => {
          clearTimeout(timer)
          resolve(E.right({ driver, close }))
        },
        (e: unknown) => {
          clearTimeout(timer)
          lastError ??= e
          void destroy()
          resolve(E.left(failure('no primary found')))
        }
      )
    })
  }
