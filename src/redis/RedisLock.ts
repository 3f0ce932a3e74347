/**
 * The Pip.Services-style Redis lock component, over any {@link RedisConnector}.
 * `leaselock/redis` exports `RedisLock`, this component bound to node-redis.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as t from 'io-ts'
import { Backend, LockComponent } from '../compat/LockComponent.js'
import type { ConfigParams } from '../config/ConfigParams.js'
import { Count, Flag, NonEmptyString, PositiveMilliseconds, integer } from '../config/codecs.js'
import { OptionsOf, genericOptionSpecs, option, optionsDecoder } from '../config/options.js'
import { ComponentSettings, ConnectionSettings, describeConnection } from '../config/settings.js'
import { Environment, liveEnvironment } from '../Environment.js'
import { LockError, configError, connectFailed, message } from '../LockError.js'
import { quorumStore } from '../quorum/quorumStore.js'
import { DEFAULT_MAX_KEY_BYTES } from './keys.js'
import type {
  RedisClusterConnectOptions,
  RedisClusterConnector,
  RedisConnectOptions,
  RedisConnection,
  RedisConnector,
  RedisNodeAddress,
  RedisSentinelConnectOptions,
  RedisSentinelConnector
} from './RedisConnection.js'
import { redisNode } from './redisNode.js'
import { redisPermitStore } from './redisPermitStore.js'
import { DEFAULT_SYNC_TIMEOUT_MS, redisStore } from './redisStore.js'

/**
 * The Redis deployment a lock component connects to: one server
 * (`standalone`, the first connection), a Redis Cluster (`cluster`: every
 * configured connection is a root node), a primary watched by Sentinel
 * (`sentinel`: every configured connection is a sentinel, and
 * `options.master_name` names the primary), or independent servers that
 * each hold a vote of a quorum (`redlock`: every connection is a node).
 *
 * @example
 * import { RedisMode } from 'leaselock/redis'
 * const mode: RedisMode = 'cluster'
 *
 * @since 0.1.0
 */
export type RedisMode = 'standalone' | 'cluster' | 'sentinel' | 'redlock'

const MODES: ReadonlyArray<RedisMode> = ['standalone', 'cluster', 'sentinel', 'redlock']

/** What `options.mode` also accepts, for a mode of another name. */
const ALIASES: Readonly<Record<string, RedisMode>> = { single: 'standalone' }

/**
 * `options.mode`: one of the {@link RedisMode}s, in any case; `single` is
 * read as `standalone`.
 *
 * @example
 * import { RedisModeCodec } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(RedisModeCodec.decode('Cluster'), E.right('cluster'))
 * assert.deepStrictEqual(RedisModeCodec.decode('single'), E.right('standalone'))
 * assert.ok(E.isLeft(RedisModeCodec.decode('ring')))
 *
 * @since 0.1.0
 */
export const RedisModeCodec = new t.Type<RedisMode, RedisMode, unknown>(
  `one of ${MODES.map((m) => `"${m}"`).join(', ')} ("single" is "standalone")`,
  (u): u is RedisMode => MODES.includes(u as RedisMode),
  (u, c) => {
    const word = typeof u === 'string' ? u.trim().toLowerCase() : undefined
    const mode = word === undefined ? undefined : (MODES.find((m) => m === word) ?? ALIASES[word])
    return mode === undefined ? t.failure(u, c) : t.success(mode)
  },
  (mode) => mode
)

/** The sentinels' usual port, for a sentinel connection configured without one. */
const SENTINEL_PORT = 26379

/**
 * The options a Redis lock reads: the generic ones (`retry_timeout`,
 * `retries`, `connect_timeout`, `command_timeout`), `max_key_size` (the
 * longest key in UTF-8 bytes, default {@link DEFAULT_MAX_KEY_BYTES}), `mode`
 * (a {@link RedisMode}, default `standalone`), `master_name` (the primary's
 * name, for `sentinel` mode), `sync_replicas` (replicas that must acknowledge
 * every grant, extend and handover claim, default 0), `sync_timeout` (how
 * long to wait for them, ms, default {@link DEFAULT_SYNC_TIMEOUT_MS}) and
 * `fencing` (`redlock` mode only: `false` skips the quorum fence, two round
 * trips per acquisition, and every fence is 0; default `true`).
 *
 * @example
 * import { redisOptionSpecs } from 'leaselock/redis'
 * assert.strictEqual(redisOptionSpecs.maxKeyBytes.defaultValue, 8192)
 * assert.strictEqual(redisOptionSpecs.mode.defaultValue, 'standalone')
 *
 * @since 0.1.0
 */
export const redisOptionSpecs = {
  ...genericOptionSpecs,
  maxKeyBytes: option('max_key_size', integer(1, 512 * 1024 * 1024), DEFAULT_MAX_KEY_BYTES),
  mode: option('mode', RedisModeCodec, 'standalone'),
  masterName: option<string | undefined>('master_name', NonEmptyString, undefined),
  syncReplicas: option('sync_replicas', Count, 0),
  syncTimeoutMs: option('sync_timeout', PositiveMilliseconds, DEFAULT_SYNC_TIMEOUT_MS),
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
 * const options: RedisOptions = {
 *   retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192,
 *   mode: 'standalone', masterName: undefined, syncReplicas: 0, syncTimeoutMs: 500, fencing: true
 * }
 *
 * @since 0.1.0
 */
export type RedisOptions = OptionsOf<typeof redisOptionSpecs>

const decodeOptionValues = optionsDecoder(redisOptionSpecs)

/** What is wrong with a combination of decoded options, naming the key. */
const checkCombination = (options: RedisOptions): ReadonlyArray<string> => [
  ...(options.mode === 'sentinel' && options.masterName === undefined
    ? ['options.master_name: required with options.mode "sentinel" (the name the sentinels monitor the primary by)']
    : options.mode !== 'sentinel' && options.masterName !== undefined
      ? [`options.master_name: only used with options.mode "sentinel", got options.mode "${options.mode}"`]
      : []),
  ...(options.mode === 'redlock' && options.syncReplicas > 0
    ? ['options.sync_replicas: not used with options.mode "redlock" (its nodes are independent primaries)']
    : [])
]

/**
 * Decodes `options.*` for a Redis lock; every bad value is named with its key,
 * and so is a bad combination (`sentinel` mode without `master_name`,
 * `master_name` in another mode, `sync_replicas` in `redlock` mode).
 *
 * @example
 * import { decodeRedisOptions } from 'leaselock/redis'
 * import { ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options = decodeRedisOptions(ConfigParams.fromTuples('options.retry_timeout', '250'))
 * assert.ok(E.isRight(options) && options.right.retryTimeoutMs === 250)
 * assert.ok(E.isLeft(decodeRedisOptions(ConfigParams.fromTuples('options.mode', 'sentinel'))))
 *
 * @since 0.1.0
 */
export const decodeRedisOptions = (params: ConfigParams): E.Either<ReadonlyArray<string>, RedisOptions> => {
  const options = decodeOptionValues(params)
  if (E.isLeft(options)) return options
  const combination = checkCombination(options.right)
  return combination.length > 0 ? E.left(combination) : options
}

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
 * import { redisConnectOptions } from 'leaselock/redis'
 * const options = { retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 }
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

/** A connection as a node address: its URI's host and port, or its host and port; TLS and databases refused in `mode`. */
const nodeOf =
  (mode: 'cluster' | 'sentinel', defaultPort: number) =>
  (connection: ConnectionSettings): E.Either<string, RedisNodeAddress> => {
    const where = describeConnection(connection)
    if (connection.protocol !== undefined && connection.protocol !== 'redis')
      return E.left(`connection ${where}: protocol "${connection.protocol}" is not supported with options.mode "${mode}" (only redis)`)
    if (connection.uri === undefined) return E.right({ host: connection.host ?? 'localhost', port: connection.port ?? defaultPort })
    let url: URL
    try {
      url = new URL(connection.uri)
    } catch {
      return E.left(`connection ${where}: not a redis:// URI`)
    }
    if (url.protocol !== 'redis:') return E.left(`connection ${where}: only redis:// URIs are supported with options.mode "${mode}"`)
    if (url.username !== '' || url.password !== '' || (url.pathname !== '' && url.pathname !== '/'))
      return E.left(`connection ${where}: give credentials as credential.* and no database in the URI with options.mode "${mode}"`)
    return E.right({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? defaultPort : Number(url.port) })
  }

/** Every connection as a node address, or every problem with them. */
const nodesOf = (
  mode: 'cluster' | 'sentinel',
  defaultPort: number,
  connections: ReadonlyArray<ConnectionSettings>
): E.Either<ReadonlyArray<string>, ReadonlyArray<RedisNodeAddress>> => {
  const nodes = connections.map(nodeOf(mode, defaultPort))
  const errors = nodes.flatMap((n) => (E.isLeft(n) ? [n.left] : []))
  return errors.length > 0 ? E.left(errors) : E.right(nodes.flatMap((n) => (E.isRight(n) ? [n.right] : [])))
}

/**
 * Maps decoded settings onto Redis Cluster connect options: every connection
 * (configured or discovered) is a root node — `host` (default `localhost`)
 * and `port` (default 6379), or a `redis://host:port` URI; the credential
 * applies to every node. TLS (`rediss`), and credentials or a database in a
 * URI, are refused with a message naming the connection.
 *
 * @example
 * import { redisClusterConnectOptions, RedisOptions } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options: RedisOptions = {
 *   retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192,
 *   mode: 'cluster', masterName: undefined, syncReplicas: 0, syncTimeoutMs: 500, fencing: true
 * }
 * assert.deepStrictEqual(
 *   redisClusterConnectOptions({ connections: [{ host: 'a', port: 7000 }, { uri: 'redis://b:7001' }], options }),
 *   E.right({ rootNodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], connectTimeoutMs: 5000, commandTimeoutMs: 3000 })
 * )
 *
 * @since 0.1.0
 */
export const redisClusterConnectOptions = (
  settings: ComponentSettings<RedisOptions>
): E.Either<ReadonlyArray<string>, RedisClusterConnectOptions> =>
  E.map(
    (rootNodes: ReadonlyArray<RedisNodeAddress>): RedisClusterConnectOptions => ({
      rootNodes,
      ...credentialOf(settings),
      connectTimeoutMs: settings.options.connectTimeoutMs,
      commandTimeoutMs: settings.options.commandTimeoutMs
    })
  )(nodesOf('cluster', 6379, settings.connections))

/**
 * Maps decoded settings onto Sentinel connect options: every connection
 * (configured or discovered) is a sentinel — `host` (default `localhost`) and
 * `port` (default 26379), or a `redis://host:port` URI — and
 * `options.master_name` names the primary; the credential applies to the
 * primary. TLS, and credentials or a database in a URI, are refused.
 *
 * @example
 * import { redisSentinelConnectOptions, RedisOptions } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options: RedisOptions = {
 *   retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeyBytes: 8192,
 *   mode: 'sentinel', masterName: 'locks', syncReplicas: 1, syncTimeoutMs: 500, fencing: true
 * }
 * assert.deepStrictEqual(
 *   redisSentinelConnectOptions({ connections: [{ host: 's1' }], credential: { password: 'pw' }, options }),
 *   E.right({ name: 'locks', sentinels: [{ host: 's1', port: 26379 }], password: 'pw', connectTimeoutMs: 5000, commandTimeoutMs: 3000 })
 * )
 *
 * @since 0.1.0
 */
export const redisSentinelConnectOptions = (
  settings: ComponentSettings<RedisOptions>
): E.Either<ReadonlyArray<string>, RedisSentinelConnectOptions> =>
  E.map(
    (sentinels: ReadonlyArray<RedisNodeAddress>): RedisSentinelConnectOptions => ({
      name: settings.options.masterName ?? '',
      sentinels,
      ...credentialOf(settings),
      connectTimeoutMs: settings.options.connectTimeoutMs,
      commandTimeoutMs: settings.options.commandTimeoutMs
    })
  )(nodesOf('sentinel', SENTINEL_PORT, settings.connections))

/** The credential's user name and password, when given. */
const credentialOf = (settings: ComponentSettings<RedisOptions>): { readonly username?: string; readonly password?: string } => {
  const { username, password } = settings.credential ?? {}
  return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) }
}

/**
 * The connectors a Redis lock component opens its connections with, one per
 * kind of deployment (`standalone` also opens each node of `redlock` mode); a
 * component without the connector its `options.mode` asks for fails `open`
 * with `INVALID_CONFIG`.
 *
 * @example
 * import { RedisConnectors, connectRedis, connectRedisCluster, connectRedisSentinel } from 'leaselock/redis'
 * const connectors: RedisConnectors = { standalone: connectRedis, cluster: connectRedisCluster, sentinel: connectRedisSentinel }
 *
 * @since 0.1.0
 */
export interface RedisConnectors {
  readonly standalone: RedisConnector
  readonly cluster?: RedisClusterConnector
  readonly sentinel?: RedisSentinelConnector
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
 *   `options.command_timeout` (default 3000), `options.max_key_size`;
 * - `options.mode` (`standalone`, the default, `cluster` or `sentinel`): in
 *   cluster mode every connection (configured or discovered) is a root node;
 *   in sentinel mode every connection is a sentinel and
 *   `options.master_name` (required there, refused elsewhere) names the
 *   primary;
 * - `options.sync_replicas` (default 0) and `options.sync_timeout` (ms,
 *   default 500): replicas that must acknowledge every grant, extend and
 *   handover claim (see `RedisStoreOptions.syncReplicas`; a lock not
 *   acknowledged in time is given back and throws `NOT_REPLICATED`);
 * - `options.fencing` (`redlock` mode).
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
  private readonly connectors: RedisConnectors
  private readonly clock: Environment['clock']

  /** Takes the standalone connector alone, or one per kind of deployment (see {@link RedisConnectors}). */
  constructor(connector: RedisConnector | RedisConnectors, env?: Environment) {
    super(env)
    this.connectors = typeof connector === 'function' ? { standalone: connector } : connector
    this.clock = (env ?? liveEnvironment).clock
  }

  protected decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, RedisOptions> {
    return decodeRedisOptions(params)
  }

  protected connect(settings: ComponentSettings<RedisOptions>): Promise<E.Either<LockError, Backend>> {
    const { mode, maxKeyBytes, syncReplicas, syncTimeoutMs } = settings.options
    if (mode === 'redlock') return this.connectQuorum(settings)
    return pipe(
      this.connection(settings, mode),
      TE.map(
        (connection): Backend => ({
          store: redisStore(connection.driver, { maxKeyBytes, syncReplicas, syncTimeoutMs }),
          permits: redisPermitStore(connection.driver, { maxKeyBytes }),
          close: connection.close
        })
      )
    )()
  }

  /** Opens the connection `options.mode` asks for (one server, a cluster or a sentinel-watched primary). */
  private connection(settings: ComponentSettings<RedisOptions>, mode: Exclude<RedisMode, 'redlock'>): TE.TaskEither<LockError, RedisConnection> {
    const { standalone, cluster, sentinel } = this.connectors
    const missing = (): TE.TaskEither<LockError, RedisConnection> =>
      TE.left(configError([`options.mode: this component has no connector for "${mode}"`]))
    const through =
      <O>(connector: (options: O) => TE.TaskEither<LockError, RedisConnection>) =>
      (options: E.Either<ReadonlyArray<string>, O>): TE.TaskEither<LockError, RedisConnection> =>
        E.isLeft(options) ? TE.left(configError(options.left)) : connector(options.right)
    switch (mode) {
      case 'standalone':
        return standalone(redisConnectOptions(settings))
      case 'cluster':
        return cluster === undefined ? missing() : through(cluster)(redisClusterConnectOptions(settings))
      case 'sentinel':
        return sentinel === undefined ? missing() : through(sentinel)(redisSentinelConnectOptions(settings))
    }
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
    const opened = await Promise.all(connections.map((c) => this.connectors.standalone(redisConnectOptions({ ...settings, connections: [c] }))()))
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
