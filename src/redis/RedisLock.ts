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
import { Flag, integer, keyword } from '../config/codecs.js'
import { OptionsOf, genericOptionSpecs, option, optionsDecoder } from '../config/options.js'
import { ComponentSettings, ConnectionSettings, describeConnection } from '../config/settings.js'
import { Environment, liveEnvironment } from '../Environment.js'
import { LockError, configError, connectFailed, message } from '../LockError.js'
import { quorumStore } from '../quorum/quorumStore.js'
import { DEFAULT_MAX_KEY_BYTES } from './keys.js'
import type { RedisConnection, RedisConnectOptions, RedisConnector } from './RedisConnection.js'
import { redisNode } from './redisNode.js'
import { redisStore } from './redisStore.js'

/**
 * The options a Redis lock reads: the generic ones (`retry_timeout`,
 * `retries`, `connect_timeout`, `command_timeout`), `max_key_size` (the
 * longest key in UTF-8 bytes, default {@link DEFAULT_MAX_KEY_BYTES}), `mode`
 * (`single`, the default: one server, the first connection; `redlock`: every
 * connection is an independent node of a quorum, see `RedisLockComponent`)
 * and `fencing` (`redlock` mode only: `false` skips the quorum fence, two
 * round trips per acquisition, and every fence is 0; default `true`).
 *
 * @example
 * import { redisOptionSpecs } from 'leaselock/redis'
 * assert.strictEqual(redisOptionSpecs.maxKeyBytes.defaultValue, 8192)
 * assert.strictEqual(redisOptionSpecs.mode.defaultValue, 'single')
 *
 * @since 0.1.0
 */
export const redisOptionSpecs = {
  ...genericOptionSpecs,
  maxKeyBytes: option('max_key_size', integer(1, 512 * 1024 * 1024), DEFAULT_MAX_KEY_BYTES),
  mode: option('mode', keyword('single', 'redlock'), 'single'),
  fencing: option('fencing', Flag, true)
}

/**
 * The fewest connections `options.mode = redlock` accepts: with fewer, one
 * failed node would stop the lock (2 nodes need both), which is worse than a
 * single server.
 *
 * @example
 * import { MIN_REDLOCK_NODES } from 'leaselock/redis'
 * assert.strictEqual(MIN_REDLOCK_NODES, 3)
 *
 * @since 0.1.0
 */
export const MIN_REDLOCK_NODES = 3

/**
 * @example
 * import { RedisOptions } from 'leaselock/redis'
 * const options: RedisOptions = { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192, mode: 'single', fencing: true }
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
 * const options = { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 }
 * assert.deepStrictEqual(
 *   redisConnectOptions({ connections: [{ protocol: 'rediss', host: 'cache', port: 6380 }], credential: { password: 'pw' }, options }),
 *   { uri: 'rediss://cache:6380', password: 'pw', connectTimeoutMs: 5000, commandTimeoutMs: 3000, connectRetries: 3 }
 * )
 *
 * @since 0.1.0
 */
export const redisConnectOptions = (
  settings: ComponentSettings<Pick<RedisOptions, 'retries' | 'connectTimeoutMs' | 'commandTimeoutMs'>>
): RedisConnectOptions => {
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
 *   `options.command_timeout` (default 3000), `options.max_key_size`,
 *   `options.mode`, `options.fencing`.
 *
 * `options.mode = redlock` makes every configured connection (after
 * discovery) one independent node of a quorum (see `quorumStore`): at least
 * {@link MIN_REDLOCK_NODES} independent primaries — not replicas of one
 * another — and an odd number is best (an even number tolerates no more
 * failed nodes than one fewer would, and lets contenders split the votes
 * evenly). `open` connects to every node and fails (`CONNECT_FAILED`, naming
 * the nodes) unless all of them answer; afterwards a minority of nodes may
 * fail at any time. A lock then needs a majority of nodes; `acquireLock`
 * waits by polling with `options.retry_timeout` and full jitter (there is no
 * FIFO handoff across independent nodes); an acquisition that finds too few
 * nodes answering fails with `NO_QUORUM` (its message says what each node
 * did), and `LOCK_TIMEOUT` still means the key stayed held. Each
 * acquisition's fence comes from a majority of the nodes' counters (two
 * round trips more; `options.fencing = false` skips them). Nodes are named
 * `redis <host>:<port>` in messages.
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
  private readonly clock: Environment['clock']

  constructor(
    private readonly connector: RedisConnector,
    env?: Environment
  ) {
    super(env)
    this.clock = (env ?? liveEnvironment).clock
  }

  protected decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, RedisOptions> {
    return decodeRedisOptions(params)
  }

  protected connect(settings: ComponentSettings<RedisOptions>): Promise<E.Either<LockError, Backend>> {
    if (settings.options.mode === 'redlock') return this.connectQuorum(settings)
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

  /** Every connection a node; all of them must connect (the ones that did are closed otherwise). */
  private async connectQuorum(settings: ComponentSettings<RedisOptions>): Promise<E.Either<LockError, Backend>> {
    const { connections, options } = settings
    if (connections.length < MIN_REDLOCK_NODES)
      return E.left(
        configError([
          `options.mode redlock needs at least ${MIN_REDLOCK_NODES} connections (independent Redis servers), got ${connections.length}`
        ])
      )
    const opened = await Promise.all(connections.map((c) => this.connector(redisConnectOptions({ ...settings, connections: [c] }))()))
    const connected = opened.flatMap((o) => (E.isRight(o) ? [o.right] : []))
    const close = (all: ReadonlyArray<RedisConnection>) => async (): Promise<void> => {
      await Promise.all(all.map((c) => c.close()))
    }
    const failures = opened.flatMap((o) => (E.isLeft(o) ? [o.left] : []))
    if (failures.length > 0) {
      await close(connected)()
      return E.left(
        failures.length === 1
          ? failures[0]!
          : connectFailed(
              connections.filter((_, i) => E.isLeft(opened[i]!)).map(describeConnection).join(', '),
              new Error(failures.map(message).join('; '))
            )
      )
    }
    const nodes = connected.map((c, i) =>
      redisNode(c.driver, { maxKeyBytes: options.maxKeyBytes, label: nodeLabel(connections[i]!) })
    )
    return E.right({ store: quorumStore(nodes, { clock: this.clock, fencing: options.fencing }), close: close(connected) })
  }
}

/** `redis <host>:<port>`, or the URI without credentials. */
const nodeLabel = (connection: ConnectionSettings): string => {
  const where = describeConnection(connection)
  return /^rediss?:\/\//.test(where) ? where : `redis ${where}`
}
