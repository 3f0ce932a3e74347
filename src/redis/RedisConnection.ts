/**
 * What it takes to connect to Redis, independent of the client library: the
 * options, the connection handed back, and the connector function that an
 * adapter supplies (`connectRedis` for node-redis).
 *
 * @since 0.1.0
 */
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from '../LockError.js'
import type { RedisDriver } from './redisStore.js'

/**
 * Where and how to connect. `uri` (`redis://` or `rediss://`, with optional
 * user, password and database: `redis://user:pass@host:6379/2`) takes
 * precedence over `host`/`port`; `username`/`password`/`database` given
 * separately apply when the URI carries none.
 *
 * @example
 * import type { RedisConnectOptions } from 'leaselock/redis'
 * const local: RedisConnectOptions = { host: 'localhost', port: 6379, password: 's3cret', connectTimeoutMs: 2_000 }
 *
 * @since 0.1.0
 */
export interface RedisConnectOptions {
  readonly uri?: string
  /** Default `localhost`. */
  readonly host?: string
  /** Default 6379. */
  readonly port?: number
  readonly username?: string
  readonly password?: string
  readonly database?: number
  /** Deadline for connecting as a whole (TCP, TLS, authentication, `SELECT`), in ms. */
  readonly connectTimeoutMs?: number
  /** Deadline of each command, in ms. */
  readonly commandTimeoutMs?: number
  /**
   * How many times a failed connection attempt is retried while connecting
   * (default: until the connect deadline). Once connected, a dropped
   * connection is always re-established in the background.
   */
  readonly connectRetries?: number
}

/**
 * A Redis node's address.
 *
 * @example
 * import type { RedisNodeAddress } from 'leaselock/redis'
 * const node: RedisNodeAddress = { host: '10.0.0.1', port: 7000 }
 *
 * @since 0.1.0
 */
export interface RedisNodeAddress {
  readonly host: string
  readonly port: number
}

/**
 * How to reach a Redis Cluster: any of its nodes (the client discovers the
 * others and follows the slot map from there), and credentials and deadlines
 * that apply to every node.
 *
 * @example
 * import type { RedisClusterConnectOptions } from 'leaselock/redis'
 * const cluster: RedisClusterConnectOptions = { rootNodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], commandTimeoutMs: 1_000 }
 *
 * @since 0.1.0
 */
export interface RedisClusterConnectOptions {
  /** Nodes to discover the cluster from (at least one; three are plenty). */
  readonly rootNodes: ReadonlyArray<RedisNodeAddress>
  readonly username?: string
  readonly password?: string
  /** Deadline for discovering the cluster and connecting to its masters, in ms. */
  readonly connectTimeoutMs?: number
  /** Deadline of each command (redirections and retries included), in ms. */
  readonly commandTimeoutMs?: number
}

/**
 * How to reach a primary watched by Redis Sentinel: its name and the
 * sentinels to ask; credentials and database apply to the primary.
 *
 * @example
 * import type { RedisSentinelConnectOptions } from 'leaselock/redis'
 * const watched: RedisSentinelConnectOptions = { name: 'locks', sentinels: [{ host: '10.0.0.1', port: 26379 }], password: 's3cret' }
 *
 * @since 0.1.0
 */
export interface RedisSentinelConnectOptions {
  /** The primary's name, as the sentinels monitor it (`sentinel monitor <name> …`). */
  readonly name: string
  /** Sentinels to ask for the primary (at least one; they tell about the others). */
  readonly sentinels: ReadonlyArray<RedisNodeAddress>
  readonly username?: string
  readonly password?: string
  readonly database?: number
  /** Deadline for finding the primary and connecting to it, in ms. */
  readonly connectTimeoutMs?: number
  /** Deadline of each command (re-sends after a failover included), in ms. */
  readonly commandTimeoutMs?: number
}

/**
 * A connected driver and the way to let it go.
 *
 * @example
 * import type { RedisConnection } from 'leaselock/redis'
 * const closeAll = (connections: ReadonlyArray<RedisConnection>) => Promise.all(connections.map((c) => c.close()))
 *
 * @since 0.1.0
 */
export interface RedisConnection {
  readonly driver: RedisDriver
  /** Closes the client: waits for commands in flight up to the command timeout, then cuts the socket. Never rejects. */
  readonly close: () => Promise<void>
}

/**
 * Opens a connection: what `RedisLockComponent` needs from a client library.
 * Failures are `LockError`s (`ConfigError` for options the client refuses,
 * `DriverFailure` when the server cannot be reached or refuses us).
 *
 * @example
 * import type { RedisConnector } from 'leaselock/redis'
 * import { connectRedis } from 'leaselock/redis'
 * const connector: RedisConnector = connectRedis
 *
 * @since 0.1.0
 */
export type RedisConnector = (options: RedisConnectOptions) => TE.TaskEither<LockError, RedisConnection>

/**
 * Opens a connection to a Redis Cluster (`connectRedisCluster` for node-redis).
 *
 * @example
 * import type { RedisClusterConnector } from 'leaselock/redis'
 * import { connectRedisCluster } from 'leaselock/redis'
 * const connector: RedisClusterConnector = connectRedisCluster
 *
 * @since 0.1.0
 */
export type RedisClusterConnector = (options: RedisClusterConnectOptions) => TE.TaskEither<LockError, RedisConnection>

/**
 * Opens a connection to a primary watched by Sentinel (`connectRedisSentinel` for node-redis).
 *
 * @example
 * import type { RedisSentinelConnector } from 'leaselock/redis'
 * import { connectRedisSentinel } from 'leaselock/redis'
 * const connector: RedisSentinelConnector = connectRedisSentinel
 *
 * @since 0.1.0
 */
export type RedisSentinelConnector = (options: RedisSentinelConnectOptions) => TE.TaskEither<LockError, RedisConnection>
