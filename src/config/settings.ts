/**
 * Typed settings decoded from {@link ConfigParams} with Pip.Services semantics:
 * connections, credentials and options. Raw configuration stops here; past this
 * boundary everything is typed.
 *
 * Connections: `connection.*` (one) and `connections.<name>.*` (many, in name
 * order), plus bare top-level keys as the Pip.Services docs' examples write
 * them (`host`, `port`, ... are read as `connection.host`, `connection.port`,
 * ...). Keys: `host` (or `ip`), `port`, `uri`, `protocol`, `discovery_key`. A
 * section is a connection when it has at least one of `host`, `ip`, `port`,
 * `uri` or `discovery_key`. `connection.*` comes first, then `connections.*`.
 *
 * Credentials: `credential.*` and `credentials.<name>.*`. Keys: `username` (or
 * `user`), `password` (or `pass`), `store_key`.
 *
 * Unknown keys are accepted and ignored, as Pip.Services does.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import type * as t from 'io-ts'
import { LockError, configError } from '../LockError.js'
import { ConfigParams, fromValue, getSection, getValue, sectionNames } from './ConfigParams.js'
import { NonEmptyString, Port, StringLike, decodeAt } from './codecs.js'
import { showValue } from './showValue.js'

export * from './codecs.js'

/**
 * Where a server is. A backend reads `uri` first, then `host` and `port`
 * (with its own defaults).
 *
 * @example
 * import { ConnectionSettings } from 'leaselock'
 * const local: ConnectionSettings = { host: 'localhost', port: 6379 }
 *
 * @since 0.1.0
 */
export interface ConnectionSettings {
  readonly host?: string
  readonly port?: number
  readonly uri?: string
  readonly protocol?: string
  /** Resolved through the referenced {@link DiscoveryResolver} when the component opens. */
  readonly discoveryKey?: string
}

/**
 * Who we are to the server.
 *
 * @example
 * import { CredentialSettings } from 'leaselock'
 * const credential: CredentialSettings = { username: 'locks', password: 's3cret' }
 *
 * @since 0.1.0
 */
export interface CredentialSettings {
  readonly username?: string
  readonly password?: string
  /** Resolved through the referenced {@link CredentialResolver} when the component opens. */
  readonly storeKey?: string
}

/**
 * What a backend receives when the component opens: the connections (with
 * discovery keys resolved), the credential (with its store key resolved) and
 * the backend's decoded options.
 *
 * @example
 * import { ComponentSettings } from 'leaselock'
 * const settings: ComponentSettings<{ retryTimeoutMs: number }> = {
 *   connections: [{ host: 'localhost', port: 6379 }],
 *   options: { retryTimeoutMs: 100 }
 * }
 *
 * @since 0.1.0
 */
export interface ComponentSettings<O> {
  readonly connections: ReadonlyArray<ConnectionSettings>
  readonly credential?: CredentialSettings
  readonly options: O
}

/**
 * What `configure` decodes: every connection and credential as configured
 * (keys not yet resolved) and the options.
 *
 * @example
 * import { ConfiguredSettings } from 'leaselock'
 * const configured: ConfiguredSettings<{ retryTimeoutMs: number }> = {
 *   connections: [{ discoveryKey: 'redis' }],
 *   credentials: [{ storeKey: 'redis' }],
 *   options: { retryTimeoutMs: 100 }
 * }
 *
 * @since 0.1.0
 */
export interface ConfiguredSettings<O> {
  readonly connections: ReadonlyArray<ConnectionSettings>
  readonly credentials: ReadonlyArray<CredentialSettings>
  readonly options: O
}

/**
 * A short name for a connection in messages, never showing credentials: the
 * URI's scheme, host and port, or `host:port`, or the discovery key.
 *
 * @example
 * import { describeConnection } from 'leaselock'
 * assert.strictEqual(describeConnection({ uri: 'redis://user:secret@cache:6380/2' }), 'redis://cache:6380')
 * assert.strictEqual(describeConnection({ host: 'localhost', port: 6379 }), 'localhost:6379')
 *
 * @since 0.1.0
 */
export const describeConnection = (connection: ConnectionSettings): string => {
  if (connection.uri !== undefined) {
    try {
      const url = new URL(connection.uri)
      return `${url.protocol}//${url.host}`
    } catch {
      return 'the configured uri'
    }
  }
  if (connection.host !== undefined || connection.port !== undefined)
    return `${connection.host ?? ''}${connection.port === undefined ? '' : `:${connection.port}`}`
  return connection.discoveryKey === undefined ? 'no server' : `discovery_key ${showValue(connection.discoveryKey)}`
}

/** A raw value and the key to name in errors about it. */
interface Field {
  readonly key: string
  readonly value: unknown
}
type Fields = Map<string, Field>

/** The section's fields by name; a name with values nested under it (`port.0`) gets them as an object (see {@link getValue}). */
const fieldsOf = (section: ConfigParams, keyOf: (name: string) => string): Fields =>
  new Map(
    [...new Set(Object.keys(section).map((name) => name.split('.')[0]!))].flatMap((name) => {
      const value = getValue(name)(section)
      return value === undefined ? [] : [[name, { key: keyOf(name), value }] as const]
    })
  )

const under = (prefix: string) => (name: string) => `${prefix}.${name}`

/** Drops the properties whose value is `undefined`. */
const compact = <A extends object>(a: A): A =>
  Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as A

/** Reads fields with error collection; `secret` fields never show their value. */
const reader = (fields: Fields, errors: Array<string>) => {
  const pick = (name: string, alias?: string): Field | undefined => {
    const a = fields.get(name)
    const b = alias === undefined ? undefined : fields.get(alias)
    if (a !== undefined && b !== undefined && String(a.value) !== String(b.value))
      errors.push(`${a.key} and ${b.key}: give one of them, not two different values`)
    return a ?? b
  }
  return <A>(codec: t.Decoder<unknown, A>, name: string, alias?: string, secret = false): A | undefined => {
    const field = pick(name, alias)
    if (field === undefined) return undefined
    return pipe(
      decodeAt(field.key, codec, secret)(field.value),
      E.getOrElseW((message) => {
        errors.push(message)
        return undefined
      })
    )
  }
}

const CONNECTION_KEYS = ['host', 'ip', 'port', 'uri', 'protocol', 'discovery_key'] as const
const WHERE_KEYS = ['host', 'ip', 'port', 'uri', 'discovery_key']
const CREDENTIAL_KEYS = ['username', 'user', 'password', 'pass', 'store_key']

/** One connection section (every value checked): `undefined` when it names no server. */
const connectionOf = (fields: Fields, errors: Array<string>): ConnectionSettings | undefined => {
  const read = reader(fields, errors)
  const connection = compact({
    host: read(NonEmptyString, 'host', 'ip'),
    port: read(Port, 'port'),
    uri: read(NonEmptyString, 'uri'),
    protocol: read(NonEmptyString, 'protocol'),
    discoveryKey: read(NonEmptyString, 'discovery_key')
  })
  return WHERE_KEYS.some((k) => fields.has(k)) ? connection : undefined
}

/** One credential section: `undefined` when it has none of the credential keys. */
const credentialOf = (fields: Fields, errors: Array<string>): CredentialSettings | undefined => {
  const read = reader(fields, errors)
  const credential = compact({
    username: read(StringLike, 'username', 'user'),
    password: read(StringLike, 'password', 'pass', true),
    storeKey: read(NonEmptyString, 'store_key')
  })
  return CREDENTIAL_KEYS.some((k) => fields.has(k)) ? credential : undefined
}

const collect = <A>(
  sections: ReadonlyArray<Fields>,
  decode: (fields: Fields, errors: Array<string>) => A | undefined
): E.Either<ReadonlyArray<string>, ReadonlyArray<A>> => {
  const errors: Array<string> = []
  const found: Array<A> = []
  for (const fields of sections) {
    const a = decode(fields, errors)
    if (a !== undefined) found.push(a)
  }
  return errors.length > 0 ? E.left(errors) : E.right(found)
}

/** `connection.*` merged with the bare top-level connection keys; a key given both ways is an error. */
const primaryConnection = (params: ConfigParams, errors: Array<string>): Fields => {
  const fields = fieldsOf(getSection('connection')(params), under('connection'))
  for (const name of CONNECTION_KEYS) {
    const value = getValue(name)(params)
    if (value === undefined) continue
    const nested = fields.get(name)
    if (nested !== undefined) errors.push(`${name} and ${nested.key}: give one of them, not both`)
    else fields.set(name, { key: name, value })
  }
  return fields
}

const namedSections = (prefix: string, params: ConfigParams): ReadonlyArray<Fields> =>
  sectionNames(prefix)(params).map((name) =>
    fieldsOf(getSection(`${prefix}.${name}`)(params), under(`${prefix}.${name}`))
  )

/**
 * Every configured connection, in order: `connection.*` (with the bare
 * top-level keys), then `connections.<name>.*` by name. Errors name the key
 * and the value.
 *
 * @example
 * import { ConfigParams, decodeConnections } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeConnections(ConfigParams.fromTuples('host', 'localhost', 'port', '6379')),
 *   E.right([{ host: 'localhost', port: 6379 }])
 * )
 *
 * @since 0.1.0
 */
export const decodeConnections = (params: ConfigParams): E.Either<ReadonlyArray<string>, ReadonlyArray<ConnectionSettings>> => {
  const errors: Array<string> = []
  const found = collect([primaryConnection(params, errors), ...namedSections('connections', params)], connectionOf)
  const all = [...errors, ...(E.isLeft(found) ? found.left : [])]
  return all.length > 0 ? E.left(all) : found
}

/**
 * Every configured credential, in order: `credential.*`, then
 * `credentials.<name>.*` by name. Password values never appear in errors.
 *
 * @example
 * import { ConfigParams, decodeCredentials } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeCredentials(ConfigParams.fromTuples('credential.user', 'app', 'credential.pass', 1234)),
 *   E.right([{ username: 'app', password: '1234' }])
 * )
 *
 * @since 0.1.0
 */
export const decodeCredentials = (params: ConfigParams): E.Either<ReadonlyArray<string>, ReadonlyArray<CredentialSettings>> =>
  collect([fieldsOf(getSection('credential')(params), under('credential')), ...namedSections('credentials', params)], credentialOf)

const resolvedKey = (what: string) => (name: string) => `${name} (resolved for ${what})`

const asParams = (value: unknown, what: string): E.Either<ReadonlyArray<string>, ConfigParams> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? pipe(
        fromValue(value),
        E.mapLeft((e) => (e._tag === 'ConfigError' ? e.errors.map((m) => `${m} (resolved for ${what})`) : [what]))
      )
    : E.left([`${what} resolved to ${showValue(value)}, not a connection or credential object`])

/**
 * Checks a connection returned by a discovery service (ours or a Pip.Services
 * `ConnectionParams`), with the same keys and rules as configuration; `what`
 * names it in errors, e.g. `discovery_key "redis"`.
 *
 * @example
 * import { decodeResolvedConnection } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeResolvedConnection('discovery_key "redis"')({ host: 'cache', port: '6380' }),
 *   E.right({ host: 'cache', port: 6380 })
 * )
 *
 * @since 0.1.0
 */
export const decodeResolvedConnection =
  (what: string) =>
  (value: unknown): E.Either<ReadonlyArray<string>, ConnectionSettings> =>
    pipe(
      asParams(value, what),
      E.chain((params) => collect([fieldsOf(params, resolvedKey(what))], connectionOf)),
      E.chain(([connection]) =>
        connection === undefined
          ? E.left([`${what} resolved to a connection without host, port or uri`])
          : connection.discoveryKey !== undefined
            ? E.left([`${what} resolved to another discovery_key (${showValue(connection.discoveryKey)}); one level is allowed`])
            : E.right(connection)
      )
    )

/**
 * Checks a credential returned by a credential store (ours or a Pip.Services
 * `CredentialParams`); `what` names it in errors.
 *
 * @example
 * import { decodeResolvedCredential } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeResolvedCredential('store_key "redis"')({ username: 'app', password: 'pw' }),
 *   E.right({ username: 'app', password: 'pw' })
 * )
 *
 * @since 0.1.0
 */
export const decodeResolvedCredential =
  (what: string) =>
  (value: unknown): E.Either<ReadonlyArray<string>, CredentialSettings> =>
    pipe(
      asParams(value, what),
      E.chain((params) => collect([fieldsOf(params, resolvedKey(what))], credentialOf)),
      E.chain(([credential]) =>
        credential === undefined
          ? E.left([`${what} resolved to a credential without username or password`])
          : credential.storeKey !== undefined
            ? E.left([`${what} resolved to another store_key (${showValue(credential.storeKey)}); one level is allowed`])
            : E.right(credential)
      )
    )

/**
 * Decodes a whole component configuration (any form {@link fromValue}
 * accepts): connections, credentials, and the options through the backend's
 * own decoder. All problems are reported together in one `ConfigError`.
 *
 * @example
 * import { decodeSettings, decodeGenericOptions, ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const settings = decodeSettings(decodeGenericOptions)(ConfigParams.fromTuples('connection.port', 'abc'))
 * assert.deepStrictEqual(
 *   settings,
 *   E.left({ _tag: 'ConfigError', errors: ['connection.port: expected an integer in 1..65535, got "abc"'] })
 * )
 *
 * @since 0.1.0
 */
export const decodeSettings =
  <O>(decodeOptions: (params: ConfigParams) => E.Either<ReadonlyArray<string>, O>) =>
  (config: unknown): E.Either<LockError, ConfiguredSettings<O>> =>
    pipe(
      fromValue(config),
      E.chain((params) => {
        const connections = decodeConnections(params)
        const credentials = decodeCredentials(params)
        const options = decodeOptions(params)
        const errors = [connections, credentials, options].flatMap((r) => (E.isLeft(r) ? r.left : []))
        return E.isRight(connections) && E.isRight(credentials) && E.isRight(options)
          ? E.right({ connections: connections.right, credentials: credentials.right, options: options.right })
          : E.left(configError(errors))
      })
    )
