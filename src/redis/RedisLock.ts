/**
 * The Pip.Services-style Redis lock component, over any {@link RedisConnector}.
 * `leaselock/redis` exports `RedisLock`, this component bound to node-redis.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import { Backend, LockComponent } from '../compat/LockComponent.js'
import type { ConfigParams } from '../config/ConfigParams.js'
import { integer } from '../config/codecs.js'
import { OptionsOf, genericOptionSpecs, option, optionsDecoder } from '../config/options.js'
import type { ComponentSettings } from '../config/settings.js'
import type { Environment } from '../Environment.js'
import type { LockError } from '../LockError.js'
import { DEFAULT_MAX_KEY_BYTES } from './keys.js'
import type { RedisConnectOptions, RedisConnector } from './RedisConnection.js'
import { redisStore } from './redisStore.js'

/**
 * The options a Redis lock reads: the generic ones (`retry_timeout`,
 * `retries`, `connect_timeout`, `command_timeout`) and `max_key_size` (the
 * longest key in UTF-8 bytes, default {@link DEFAULT_MAX_KEY_BYTES}).
 *
 * @example
 * import { redisOptionSpecs } from 'leaselock/redis'
 * assert.strictEqual(redisOptionSpecs.maxKeyBytes.defaultValue, 8192)
 *
 * @since 0.1.0
 */
export const redisOptionSpecs = {
  ...genericOptionSpecs,
  maxKeyBytes: option('max_key_size', integer(1, 512 * 1024 * 1024), DEFAULT_MAX_KEY_BYTES)
}

/**
 * @example
 * import { RedisOptions } from 'leaselock/redis'
 * const options: RedisOptions = { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192 }
 *
 * @since 0.1.0
 */
export type RedisOptions = OptionsOf<typeof redisOptionSpecs>

/**
 * Decodes `options.*` for a Redis lock; every bad value is named with its key.
 *
 * @example
 * import { decodeRedisOptions } from 'leaselock/redis'
 * import { ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options = decodeRedisOptions(ConfigParams.fromTuples('options.retry_timeout', '250'))
 * assert.ok(E.isRight(options) && options.right.retryTimeoutMs === 250)
 *
 * @since 0.1.0
 */
export const decodeRedisOptions: (params: ConfigParams) => E.Either<ReadonlyArray<string>, RedisOptions> =
  optionsDecoder(redisOptionSpecs)

const hostPart = (host: string): string => (host.includes(':') ? `[${host}]` : host)

/**
 * Maps decoded settings onto connect options. Only the first connection is
 * used (as in the original component). Its `uri` is passed through; without
 * one, `host` (default `localhost`) and `port` (default 6379) are used — and a
 * `protocol` (`redis` or `rediss` for TLS) turns them into a URI. The
 * credential's `username`/`password` apply unless the URI carries its own.
 * `options.retries` bounds the connection attempts while opening.
 *
 * @example
 * import { redisConnectOptions, RedisOptions } from 'leaselock/redis'
 * const options: RedisOptions = { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192 }
 * assert.deepStrictEqual(
 *   redisConnectOptions({ connections: [{ protocol: 'rediss', host: 'cache', port: 6380 }], credential: { password: 'pw' }, options }),
 *   { uri: 'rediss://cache:6380', password: 'pw', connectTimeoutMs: 5000, commandTimeoutMs: 3000, connectRetries: 3 }
 * )
 *
 * @since 0.1.0
 */
export const redisConnectOptions = (settings: ComponentSettings<RedisOptions>): RedisConnectOptions => {
  const connection = settings.connections[0] ?? {}
  const where: RedisConnectOptions =
    connection.uri !== undefined
      ? { uri: connection.uri }
      : connection.protocol !== undefined
        ? { uri: `${connection.protocol}://${hostPart(connection.host ?? 'localhost')}:${connection.port ?? 6379}` }
        : { host: connection.host ?? 'localhost', port: connection.port ?? 6379 }
  const { username, password } = settings.credential ?? {}
  return {
    ...where,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    connectTimeoutMs: settings.options.connectTimeoutMs,
    commandTimeoutMs: settings.options.commandTimeoutMs,
    connectRetries: settings.options.retries
  }
}

/**
 * The Redis lock component over a connector of your choice (see
 * {@link RedisConnector}); `RedisLock` from `leaselock/redis` is this
 * component over node-redis. Configuration (Pip.Services `ConfigParams`):
 *
 * - `connection.host` / `port` / `uri` / `protocol` / `discovery_key` (or
 *   `connections.<name>.*`, or bare `host` / `port` / `uri`): the first
 *   connection is used;
 * - `credential.username` / `password` / `store_key`;
 * - `options.retry_timeout` (ms between acquire attempts, default 100, with
 *   full jitter), `options.retries` (connection attempts retried on `open`,
 *   default 3), `options.connect_timeout` (default 5000),
 *   `options.command_timeout` (default 3000), `options.max_key_size`.
 *
 * Every acquisition has its own token and fencing token (see `redisStore`).
 * With a connector whose driver can `subscribe` (node-redis's does),
 * `acquireLock` waits in the key's FIFO queue and is handed the key as soon as
 * its holder releases it; `options.retry_timeout` is then only the cadence of
 * the fallback poll (for a holder that expired, or a lost notification).
 *
 * @example
 * import { RedisLockComponent, connectRedis } from 'leaselock/redis'
 * import { ConfigParams } from 'leaselock'
 *
 * const lock = new RedisLockComponent(connectRedis)
 * lock.configure(ConfigParams.fromTuples('connection.uri', `redis://localhost:${process.env.REDIS_PORT ?? 6379}`))
 * await lock.open('123')
 *
 * @since 0.1.0
 */
export class RedisLockComponent extends LockComponent<RedisOptions> {
  constructor(
    private readonly connector: RedisConnector,
    env?: Environment
  ) {
    super(env)
  }

  protected decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, RedisOptions> {
    return decodeRedisOptions(params)
  }

  protected connect(settings: ComponentSettings<RedisOptions>): Promise<E.Either<LockError, Backend>> {
    return pipe(
      this.connector(redisConnectOptions(settings)),
      TE.map(
        (connection): Backend => ({
          store: redisStore(connection.driver, { maxKeyBytes: settings.options.maxKeyBytes }),
          close: connection.close
        })
      )
    )()
  }
}
