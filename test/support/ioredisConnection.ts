import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Redis } from 'ioredis'
import { ioredisDriver } from '../../adapters/ioredis.js'
import { LockError, connectFailed } from '../../src/LockError.js'
import type { RedisConnection, RedisConnectOptions } from '../../src/redis/RedisConnection.js'

/**
 * A test client as a user would set one up: an ioredis `Redis` (with an
 * `'error'` listener and ioredis's own reconnection), connected within the
 * connect deadline, wrapped in `ioredisDriver`; `close` closes the driver,
 * then the client.
 */
export const connectIoredis =
  (options: RedisConnectOptions): TE.TaskEither<LockError, RedisConnection> =>
  async () => {
    const redis = new Redis({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 6379,
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
      retryStrategy: (attempt) => Math.min(50 * attempt, 500)
    })
    redis.on('error', () => undefined)
    const timer = setTimeout(() => redis.disconnect(), options.connectTimeoutMs ?? 5_000)
    const connected = await redis.connect().then(
      () => E.right(undefined),
      (e: unknown) => E.left(e)
    )
    clearTimeout(timer)
    if (E.isLeft(connected) || redis.status !== 'ready') {
      redis.disconnect()
      return E.left(connectFailed(`${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`, E.isLeft(connected) ? connected.left : 'not ready'))
    }
    const driver = ioredisDriver(redis, { ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }), connectTimeoutMs: options.connectTimeoutMs ?? 5_000 })
    return E.right({
      driver,
      close: async () => {
        await driver.close()
        const timer = setTimeout(() => redis.disconnect(), 2_000)
        await redis.quit().catch(() => redis.disconnect())
        clearTimeout(timer)
      }
    })
  }
