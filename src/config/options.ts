/**
 * `options.*`: declared once as specs (config key, codec, default), decoded
 * together with every error reported. The generic options every component
 * understands are here; backends add their own specs next to them.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { ConfigParams, getSection, getValue } from './ConfigParams.js'
import { Count, Milliseconds, PositiveMilliseconds, decodeAt } from './codecs.js'

/**
 * One option: its key under `options.`, how to decode it, and its default.
 *
 * @example
 * import { OptionSpec, Count } from 'leaselock'
 * const retries: OptionSpec<number> = { key: 'retries', codec: Count, defaultValue: 3 }
 *
 * @since 0.1.0
 */
export interface OptionSpec<A> {
  readonly key: string
  readonly codec: t.Decoder<unknown, A>
  readonly defaultValue: A
}

/**
 * @example
 * import { option, integer } from 'leaselock'
 * const maxKeySize = option('max_key_size', integer(1, 250), 250)
 *
 * @since 0.1.0
 */
export const option = <A>(key: string, codec: t.Decoder<unknown, A>, defaultValue: A): OptionSpec<A> => ({
  key,
  codec,
  defaultValue
})

/**
 * The decoded type of a record of option specs.
 *
 * @example
 * import { OptionsOf, option, Count } from 'leaselock'
 * type Retries = OptionsOf<{ retries: ReturnType<typeof option<number>> }> // { readonly retries: number }
 *
 * @since 0.1.0
 */
export type OptionsOf<S extends Record<string, OptionSpec<unknown>>> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer A> ? A : never
}

/**
 * Builds a decoder for `options.*` from specs; absent options take their
 * default, unknown option keys are ignored, and every bad value is reported
 * (`options.retries: expected a non-negative integer, got "many"`).
 *
 * @example
 * import { optionsDecoder, genericOptionSpecs, option, integer, ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const decode = optionsDecoder({ ...genericOptionSpecs, maxKeySize: option('max_key_size', integer(1, 250), 250) })
 * const options = decode(ConfigParams.fromTuples('options.max_key_size', '100'))
 * assert.ok(E.isRight(options) && options.right.maxKeySize === 100 && options.right.retryTimeoutMs === 100)
 *
 * @since 0.1.0
 */
export const optionsDecoder =
  <S extends Record<string, OptionSpec<unknown>>>(specs: S) =>
  (params: ConfigParams): E.Either<ReadonlyArray<string>, OptionsOf<S>> => {
    const section = getSection('options')(params)
    const errors: Array<string> = []
    const out: Record<string, unknown> = {}
    for (const [field, spec] of Object.entries(specs)) {
      const raw = getValue(spec.key)(section)
      if (raw === undefined) {
        out[field] = spec.defaultValue
        continue
      }
      const decoded = decodeAt(`options.${spec.key}`, spec.codec)(raw)
      if (E.isLeft(decoded)) errors.push(decoded.left)
      else out[field] = decoded.right
    }
    return errors.length > 0 ? E.left(errors) : E.right(out as OptionsOf<S>)
  }

/**
 * Default of `options.connect_timeout`: 5 s for `open` as a whole (discovery,
 * credential lookup, connecting, authenticating).
 *
 * @example
 * import { defaultConnectTimeoutMs } from 'leaselock'
 * assert.strictEqual(defaultConnectTimeoutMs, 5000)
 *
 * @since 0.1.0
 */
export const defaultConnectTimeoutMs = 5_000

/**
 * Default of `options.command_timeout`: 3 s for each command sent to a server
 * (and for the releases `close` makes).
 *
 * @example
 * import { defaultCommandTimeoutMs } from 'leaselock'
 * assert.strictEqual(defaultCommandTimeoutMs, 3000)
 *
 * @since 0.1.0
 */
export const defaultCommandTimeoutMs = 3_000

/**
 * The options every lock component understands:
 * - `retry_timeout` (ms, default 100): the delay between acquisition attempts
 *   in `acquireLock`, with full jitter (each wait is uniform in [0, retry_timeout),
 *   and at least 1 ms).
 * - `retries` (default 3): how often a backend retries a failed connection attempt.
 * - `connect_timeout` (ms, default {@link defaultConnectTimeoutMs}): deadline of `open`.
 * - `command_timeout` (ms, default {@link defaultCommandTimeoutMs}): deadline of each command.
 *
 * @example
 * import { genericOptionSpecs } from 'leaselock'
 * assert.strictEqual(genericOptionSpecs.retryTimeoutMs.defaultValue, 100)
 *
 * @since 0.1.0
 */
export const genericOptionSpecs = {
  retryTimeoutMs: option('retry_timeout', Milliseconds, 100),
  retries: option('retries', Count, 3),
  connectTimeoutMs: option('connect_timeout', PositiveMilliseconds, defaultConnectTimeoutMs),
  commandTimeoutMs: option('command_timeout', PositiveMilliseconds, defaultCommandTimeoutMs)
}

/**
 * The decoded generic options.
 *
 * @example
 * import { GenericOptions } from 'leaselock'
 * const options: GenericOptions = { retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 }
 *
 * @since 0.1.0
 */
export type GenericOptions = OptionsOf<typeof genericOptionSpecs>

/**
 * Decodes the generic options alone (a backend without options of its own can
 * use it as its `decodeOptions`).
 *
 * @example
 * import { decodeGenericOptions, ConfigParams } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeGenericOptions(ConfigParams.fromTuples('options.retry_timeout', '250')),
 *   E.right({ retryTimeoutMs: 250, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 })
 * )
 *
 * @since 0.1.0
 */
export const decodeGenericOptions: (params: ConfigParams) => E.Either<ReadonlyArray<string>, GenericOptions> =
  optionsDecoder(genericOptionSpecs)
