/**
 * Configuration as Pip.Services writes it: a flat map from dotted keys
 * (`connection.host`, `options.retry_timeout`) to raw values, where numbers and
 * booleans may arrive as strings. Nested objects are flattened into dotted keys.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { LockError, configError } from '../LockError.js'
import { showValue } from './showValue.js'

/**
 * A flat, read-only map from dotted keys to raw values (strings, numbers,
 * booleans or bigints; never objects).
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * const config: ConfigParams = { 'connection.host': 'localhost', 'connection.port': '6379' }
 *
 * @since 0.1.0
 */
export type ConfigParams = Readonly<Record<string, unknown>>

type Scalar = string | number | boolean | bigint

const isScalar = (u: unknown): u is Scalar =>
  typeof u === 'string' || typeof u === 'number' || typeof u === 'boolean' || typeof u === 'bigint'

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** Flattens one entry into `out`, collecting problems in `errors`; `null`/`undefined` leaves are dropped. */
const flattenInto = (out: Record<string, Scalar>, errors: Array<string>, key: string, value: unknown): void => {
  if (value === null || value === undefined) return
  if (isScalar(value)) {
    if (Object.prototype.hasOwnProperty.call(out, key)) errors.push(`${key}: given more than once`)
    else out[key] = value
    return
  }
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) flattenInto(out, errors, key === '' ? k : `${key}.${k}`, v)
    return
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => flattenInto(out, errors, key === '' ? String(i) : `${key}.${i}`, v))
    return
  }
  errors.push(`${key}: expected a string, number or boolean, got ${showValue(value)}`)
}

/**
 * Builds configuration from alternating keys and values, as Pip.Services'
 * `ConfigParams.fromTuples` does. Keys are turned into strings; a trailing key
 * without a value is given `undefined` (which decoding treats as absent).
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * const config = ConfigParams.fromTuples('connection.host', 'localhost', 'connection.port', 6379)
 * assert.deepStrictEqual(config, { 'connection.host': 'localhost', 'connection.port': 6379 })
 *
 * @since 0.1.0
 */
export const fromTuples = (...tuples: ReadonlyArray<unknown>): ConfigParams => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < tuples.length; i += 2) out[String(tuples[i])] = tuples[i + 1]
  return out
}

/**
 * Reads configuration from a flat map with dotted keys, a nested object, a mix
 * of both, or an existing `ConfigParams` (ours or a Pip.Services one: any object
 * whose own enumerable properties are the entries). Nested objects and arrays
 * are flattened (`{ connection: { port: 1 } }` → `connection.port`); `null` and
 * `undefined` values are dropped. A key given twice, or a value that is not a
 * string, number, boolean or bigint, is a `ConfigError` naming the key.
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const config = ConfigParams.fromValue({ connection: { host: 'localhost', port: '6379' } })
 * assert.deepStrictEqual(config, E.right({ 'connection.host': 'localhost', 'connection.port': '6379' }))
 *
 * @since 0.1.0
 */
export const fromValue = (value: unknown): E.Either<LockError, ConfigParams> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return E.left(configError([`configuration must be an object, got ${showValue(value)}`]))
  const out: Record<string, Scalar> = {}
  const errors: Array<string> = []
  for (const [k, v] of Object.entries(value)) flattenInto(out, errors, k, v)
  return errors.length > 0 ? E.left(configError(errors)) : E.right(out)
}

/**
 * The entries under `prefix.`, with the prefix removed.
 *
 * @example
 * import { ConfigParams, getSection } from 'leaselock'
 * const config = ConfigParams.fromTuples('options.retries', 5, 'connection.host', 'h')
 * assert.deepStrictEqual(getSection('options')(config), { retries: 5 })
 *
 * @since 0.1.0
 */
export const getSection =
  (prefix: string) =>
  (params: ConfigParams): ConfigParams => {
    const head = `${prefix}.`
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(params)) if (k.startsWith(head) && v !== undefined) out[k.slice(head.length)] = v
    return out
  }

/**
 * The value at `key`: the scalar there, or, when the configuration nests
 * values under the key (`{ port: [6380] }` flattens to `port.0`), the section
 * under it as an object. A decoder expecting a scalar then rejects the nested
 * value instead of reading the key as absent.
 *
 * @example
 * import { getValue } from 'leaselock'
 * assert.strictEqual(getValue('port')({ port: 6380 }), 6380)
 * assert.deepStrictEqual(getValue('port')({ 'port.0': 6380 }), { '0': 6380 })
 * assert.strictEqual(getValue('port')({ host: 'h' }), undefined)
 *
 * @since 0.1.0
 */
export const getValue =
  (key: string) =>
  (params: ConfigParams): unknown => {
    if (params[key] !== undefined) return params[key]
    const section = getSection(key)(params)
    return Object.keys(section).length > 0 ? section : undefined
  }

const DIGITS = /^\d+$/
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
/** Names of digits first, by value; then the others by code unit. A total order. */
const byName = (a: string, b: string): number => {
  const da = DIGITS.test(a)
  const db = DIGITS.test(b)
  if (da && db) return Number(a) - Number(b) || byCodeUnit(a, b)
  return da ? -1 : db ? 1 : byCodeUnit(a, b)
}

/**
 * The distinct names of the sub-sections under `prefix.` (`connections.a.host`
 * → `a`), in name order: names made of digits first, by value (`2` before
 * `10`), then the others by code unit.
 *
 * @example
 * import { ConfigParams, sectionNames } from 'leaselock'
 * const config = ConfigParams.fromTuples('connections.10.host', 'x', 'connections.2.host', 'y')
 * assert.deepStrictEqual(sectionNames('connections')(config), ['2', '10'])
 *
 * @since 0.1.0
 */
export const sectionNames =
  (prefix: string) =>
  (params: ConfigParams): ReadonlyArray<string> => {
    const names = new Set<string>()
    for (const k of Object.keys(getSection(prefix)(params))) {
      const dot = k.indexOf('.')
      if (dot > 0) names.add(k.slice(0, dot))
    }
    return [...names].sort(byName)
  }

/**
 * The constructors, under the name Pip.Services users know:
 * `ConfigParams.fromTuples(...)` and `ConfigParams.fromValue(...)`.
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * const config = ConfigParams.fromTuples('host', 'localhost', 'port', 6379)
 *
 * @since 0.1.0
 */
export const ConfigParams: {
  readonly fromTuples: (...tuples: ReadonlyArray<unknown>) => ConfigParams
  readonly fromValue: (value: unknown) => E.Either<LockError, ConfigParams>
} = { fromTuples, fromValue }
