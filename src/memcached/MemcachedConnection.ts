/**
 * What it takes to connect to memcached, independent of the client library:
 * the options, the connection handed back, and the connector function that an
 * adapter supplies (`connectMemcached` for memjs).
 *
 * @since 0.1.0
 */
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from '../LockError.js'
import type { MemcachedDriver } from './memcachedStore.js'

/**
 * A memcached server's address.
 *
 * @example
 * import type { MemcachedServerAddress } from 'leaselock/memcached'
 * const local: MemcachedServerAddress = { host: 'localhost', port: 11211 }
 *
 * @since 0.1.0
 */
export interface MemcachedServerAddress {
  readonly host: string
  readonly port: number
}

/**
 * Where and how to connect. Each key is stored on one of `servers`, picked by
 * hashing the key; a lock never moves to another server.
 *
 * @example
 * import type { MemcachedConnectOptions } from 'leaselock/memcached'
 * const options: MemcachedConnectOptions = {
 *   servers: [{ host: 'cache-1', port: 11211 }, { host: 'cache-2', port: 11211 }],
 *   username: 'locks',
 *   password: 's3cret',
 *   connectTimeoutMs: 2_000
 * }
 *
 * @since 0.1.0
 */
export interface MemcachedConnectOptions {
  readonly servers: ReadonlyArray<MemcachedServerAddress>
  /** SASL (PLAIN) user name, for a memcached started with `-S`; give `password` too. */
  readonly username?: string
  readonly password?: string
  /** Deadline for connecting, authenticating and checking every server, in ms. */
  readonly connectTimeoutMs?: number
  /** Deadline of each request, in ms. */
  readonly commandTimeoutMs?: number
  /**
   * How many times a failed check of a server is retried while connecting,
   * 100 ms apart and within the connect deadline (default 0). A refusal (wrong
   * credentials, CAS disabled) is never retried.
   */
  readonly connectRetries?: number
  /** TCP keep-alive on the sockets (off by default). */
  readonly keepAlive?: boolean
}

/**
 * A connected driver and the way to let it go.
 *
 * @example
 * import type { MemcachedConnection } from 'leaselock/memcached'
 * const closeAll = (connections: ReadonlyArray<MemcachedConnection>) => Promise.all(connections.map((c) => c.close()))
 *
 * @since 0.1.0
 */
export interface MemcachedConnection {
  readonly driver: MemcachedDriver
  /** Stops sending, waits for requests in flight (up to the request deadline), then closes every socket. Never rejects. */
  readonly close: () => Promise<void>
}

/**
 * Opens a connection: what `MemcachedLockComponent` needs from a client
 * library. Failures are `LockError`s (`ConfigError` for bad options,
 * `ConnectFailed` when a server cannot be reached, refuses us, or cannot
 * hold a lock safely).
 *
 * @example
 * import type { MemcachedConnector } from 'leaselock/memcached'
 * import { connectMemcached } from 'leaselock/memcached'
 * const connector: MemcachedConnector = connectMemcached
 *
 * @since 0.1.0
 */
export type MemcachedConnector = (options: MemcachedConnectOptions) => TE.TaskEither<LockError, MemcachedConnection>
