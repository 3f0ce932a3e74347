/**
 * The Pip.Services-style memcached lock component, over any
 * {@link MemcachedConnector}. `leaselock/memcached` exports `MemcachedLock`,
 * this component bound to memjs.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import type * as t from 'io-ts'
import { Backend, LockComponent } from '../compat/LockComponent.js'
import type { ConfigParams } from '../config/ConfigParams.js'
import { Count, Flag, Milliseconds, PositiveMilliseconds, integer } from '../config/codecs.js'
import { OptionsOf, defaultCommandTimeoutMs, genericOptionSpecs, option, optionsDecoder } from '../config/options.js'
import type { ComponentSettings, ConnectionSettings } from '../config/settings.js'
import type { Environment } from '../Environment.js'
import { LockError, configError } from '../LockError.js'
import { MAX_EXPIRATION_SECONDS } from './expiry.js'
import { MAX_KEY_SIZE } from './keys.js'
import type { MemcachedConnectOptions, MemcachedConnector, MemcachedServerAddress } from './MemcachedConnection.js'
import { memcachedPermitStore } from './memcachedPermitStore.js'
import { memcachedStore } from './memcachedStore.js'

/**
 * memcached's default port.
 *
 * @example
 * import { DEFAULT_MEMCACHED_PORT } from 'leaselock/memcached'
 * assert.strictEqual(DEFAULT_MEMCACHED_PORT, 11211)
 *
 * @since 0.1.0
 */
export const DEFAULT_MEMCACHED_PORT = 11211

const optionalMs = PositiveMilliseconds as t.Decoder<unknown, number | undefined>

/**
 * The `options.*` a memcached lock decodes: the generic ones and the original
 * component's. What each one does here:
 *
 * | option | default | effect |
 * | --- | --- | --- |
 * | `retry_timeout` | 100 ms | delay between `acquireLock` attempts (full jitter) |
 * | `connect_timeout` | 5000 ms | deadline of `open` (connect, SASL, server checks) |
 * | `command_timeout` | 3000 ms | deadline of each request |
 * | `timeout` | — | deadline of each request when `command_timeout` is not set |
 * | `retries` | 3 | server checks retried on `open` (100 ms apart, within `connect_timeout`); lock requests are never re-sent |
 * | `max_key_size` | 250 | longest key in UTF-8 bytes (1..250) |
 * | `max_expiration` | 2592000 | longest TTL, in **seconds** (1..2592000) |
 * | `verify_ownership` | false | release and extend always read the item and check the token first (2 round trips); set it behind a proxy (mcrouter, twemproxy), where a server restart does not break our connection |
 * | `max_size`, `max_value`, `pool_size`, `reconnect`, `failures`, `retry`, `idle` | as the original | decoded and checked, no effect |
 *
 * @example
 * import { memcachedOptionSpecs } from 'leaselock/memcached'
 * assert.strictEqual(memcachedOptionSpecs.maxKeySize.defaultValue, 250)
 *
 * @since 0.1.0
 */
export const memcachedOptionSpecs = {
  ...genericOptionSpecs,
  commandTimeoutMs: option('command_timeout', optionalMs, undefined),
  timeoutMs: option('timeout', optionalMs, undefined),
  maxKeySize: option('max_key_size', integer(1, MAX_KEY_SIZE), MAX_KEY_SIZE),
  maxExpirationSeconds: option('max_expiration', integer(1, MAX_EXPIRATION_SECONDS), MAX_EXPIRATION_SECONDS),
  maxSize: option('max_size', Count, 1000),
  maxValue: option('max_value', integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer'), 1_048_576),
  poolSize: option('pool_size', integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer'), 5),
  reconnectMs: option('reconnect', Milliseconds, 10_000),
  failures: option('failures', Count, 5),
  retryMs: option('retry', Milliseconds, 30_000),
  idleMs: option('idle', Milliseconds, 5_000),
  verifyOwnership: option('verify_ownership', Flag, false)
}

/**
 * The decoded options of a memcached lock (see {@link memcachedOptionSpecs});
 * `commandTimeoutMs` is `command_timeout`, else `timeout`, else 3000.
 *
 * @example
 * import { MemcachedOptions } from 'leaselock/memcached'
 * const deadline = (options: MemcachedOptions): number => options.commandTimeoutMs
 *
 * @since 0.1.0
 */
export type MemcachedOptions = Omit<OptionsOf<typeof memcachedOptionSpecs>, 'commandTimeoutMs' | 'timeoutMs'> & {
  readonly commandTimeoutMs: number
}

const decodeSpecs = optionsDecoder(memcachedOptionSpecs)

/**
 * Decodes `options.*` for a memcached lock; every bad value is named with its key.
 *
 * @example
 * import { decodeMemcachedOptions } from 'leaselock/memcached'
 * import { ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options = decodeMemcachedOptions(ConfigParams.fromTuples('options.timeout', '1500', 'options.max_key_size', '100'))
 * assert.ok(E.isRight(options) && options.right.commandTimeoutMs === 1500 && options.right.maxKeySize === 100)
 *
 * @since 0.1.0
 */
export const decodeMemcachedOptions = (params: ConfigParams): E.Either<ReadonlyArray<string>, MemcachedOptions> =>
  pipe(
    decodeSpecs(params),
    E.map(({ commandTimeoutMs, timeoutMs, ...rest }) => ({ ...rest, commandTimeoutMs: commandTimeoutMs ?? timeoutMs ?? defaultCommandTimeoutMs }))
  )

interface Credentials {
  readonly username?: string
  readonly password?: string
}

/** One URI entry: `[memcached://][user:pass@]host[:port]`. */
const parseUriEntry = (entry: string): E.Either<string, MemcachedServerAddress & Credentials> => {
  let url: URL
  try {
    url = new URL(entry.includes('://') ? entry : `memcached://${entry}`)
  } catch {
    return E.left(`cannot read ${JSON.stringify(entry)} as [memcached://][user:password@]host[:port]`)
  }
  if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/'))
    return E.left(`cannot read ${JSON.stringify(entry)} as [memcached://][user:password@]host[:port]`)
  return E.right({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? DEFAULT_MEMCACHED_PORT : Number(url.port),
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {})
  })
}

const serversOf = (c: ConnectionSettings, index: number): E.Either<string, ReadonlyArray<MemcachedServerAddress & Credentials>> => {
  if (c.uri === undefined) return E.right([{ host: c.host ?? 'localhost', port: c.port ?? DEFAULT_MEMCACHED_PORT }])
  const entries = c.uri.split(',').map((s) => s.trim())
  const parsed = entries.map(parseUriEntry)
  const bad = parsed.flatMap((p) => (E.isLeft(p) ? [p.left] : []))
  return bad.length > 0
    ? E.left(`connections[${index}].uri: ${bad.join('; ')}`)
    : E.right(parsed.flatMap((p) => (E.isRight(p) ? [p.right] : [])))
}

/**
 * Maps decoded settings onto connect options. Every connection is a server
 * (each key lives on one of them, picked by hashing the key): `uri` — a list
 * of `[memcached://][user:password@]host[:port]` separated by commas — or
 * `host` (default `localhost`) and `port` (default 11211). The credential's
 * `username`/`password` (SASL), else those of a URI. `options.retries` bounds
 * the server checks retried on `open`.
 *
 * @example
 * import { memcachedConnectOptions, decodeMemcachedOptions } from 'leaselock/memcached'
 * import { ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const options = decodeMemcachedOptions(ConfigParams.fromTuples())
 * if (E.isRight(options)) {
 *   const connect = memcachedConnectOptions({ connections: [{ host: 'a' }, { uri: 'b:11212' }], options: options.right })
 *   assert.ok(E.isRight(connect))
 *   assert.deepStrictEqual(connect.right.servers, [{ host: 'a', port: 11211 }, { host: 'b', port: 11212 }])
 * }
 *
 * @since 0.1.0
 */
export const memcachedConnectOptions = (settings: ComponentSettings<MemcachedOptions>): E.Either<LockError, MemcachedConnectOptions> => {
  const found = settings.connections.map(serversOf)
  const errors = found.flatMap((f) => (E.isLeft(f) ? [f.left] : []))
  if (errors.length > 0) return E.left(configError(errors))
  const entries = found.flatMap((f) => (E.isRight(f) ? f.right : []))
  const fromUri = entries.find((e) => e.username !== undefined || e.password !== undefined)
  const username = settings.credential?.username ?? fromUri?.username
  const password = settings.credential?.password ?? fromUri?.password
  return E.right({
    servers: entries.map(({ host, port }) => ({ host, port })),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    connectTimeoutMs: settings.options.connectTimeoutMs,
    commandTimeoutMs: settings.options.commandTimeoutMs,
    connectRetries: settings.options.retries
  })
}

/**
 * The memcached lock component over a connector of your choice (see
 * {@link MemcachedConnector}); `MemcachedLock` from `leaselock/memcached` is
 * this component over memjs. Configuration (Pip.Services `ConfigParams`):
 *
 * - `connection.host` / `port` / `uri` / `discovery_key` (or
 *   `connections.<name>.*`, or bare `host` / `port` / `uri`): every connection
 *   is a server, and each key lives on one of them (no quorum, no failover);
 * - `credential.username` / `password` / `store_key`: SASL, for a memcached
 *   started with `-S`;
 * - `options.*`: see {@link memcachedOptionSpecs}.
 *
 * Every acquisition has its own token; release and extend act only on the
 * item that token created (see `memcachedStore`). TTLs are whole seconds
 * rounded up; a lease's validity is what memcached's one-second clock
 * guarantees (see `validityMs`).
 *
 * @example
 * import { MemcachedLockComponent, connectMemcached } from 'leaselock/memcached'
 * import { ConfigParams } from 'leaselock'
 *
 * const lock = new MemcachedLockComponent(connectMemcached)
 * lock.configure(ConfigParams.fromTuples('connection.host', 'localhost', 'connection.port', Number(process.env.MEMCACHED_PORT ?? 11211)))
 * await lock.open('123')
 *
 * @since 0.1.0
 */
export class MemcachedLockComponent extends LockComponent<MemcachedOptions> {
  constructor(
    private readonly connector: MemcachedConnector,
    env?: Environment
  ) {
    super(env)
  }

  protected decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, MemcachedOptions> {
    return decodeMemcachedOptions(params)
  }

  protected connect(settings: ComponentSettings<MemcachedOptions>): Promise<E.Either<LockError, Backend>> {
    return pipe(
      TE.fromEither(memcachedConnectOptions(settings)),
      TE.chain(this.connector),
      TE.map(
        (connection): Backend => ({
          store: memcachedStore(connection.driver, {
            maxKeySize: settings.options.maxKeySize,
            maxExpirationSeconds: settings.options.maxExpirationSeconds,
            verifyOwnership: settings.options.verifyOwnership
          }),
          close: connection.close,
          permits: memcachedPermitStore()
        })
      )
    )()
  }
}
