/**
 * io-ts codecs for configuration values, which arrive raw: a port may be
 * `6379` or `"6379"`, a flag `true` or `"true"`. Each codec's `name` reads as
 * the expectation in an error message ("expected an integer in 1..65535").
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { showValue } from './showValue.js'

const INTEGER = /^[+-]?\d+$/

/** The longest delay a Node.js timer honours (larger values fire at once). */
const MAX_TIMER_MS = 2_147_483_647

/**
 * An integer in `min..max`, given as a number or as a string of digits
 * (surrounding spaces allowed).
 *
 * @example
 * import { integer } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(integer(1, 10).decode('7'), E.right(7))
 * assert.ok(E.isLeft(integer(1, 10).decode('7.5')))
 *
 * @since 0.1.0
 */
export const integer = (min: number, max: number, name = `an integer in ${min}..${max}`): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= min && u <= max,
    (u, c) => {
      const n = typeof u === 'number' ? u : typeof u === 'string' && INTEGER.test(u.trim()) ? Number(u.trim()) : NaN
      return Number.isSafeInteger(n) && n >= min && n <= max ? t.success(n) : t.failure(u, c)
    },
    (n) => n
  )

/**
 * A TCP port: an integer in 1..65535.
 *
 * @example
 * import { Port } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(Port.decode('6379'), E.right(6379))
 *
 * @since 0.1.0
 */
export const Port = integer(1, 65_535)

/**
 * A count: a non-negative safe integer.
 *
 * @example
 * import { Count } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(Count.decode('3'), E.right(3))
 *
 * @since 0.1.0
 */
export const Count = integer(0, Number.MAX_SAFE_INTEGER, 'a non-negative integer')

/**
 * A duration in whole milliseconds, 0..2147483647 (the range a timer honours).
 *
 * @example
 * import { Milliseconds } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(Milliseconds.decode('100'), E.right(100))
 *
 * @since 0.1.0
 */
export const Milliseconds = integer(0, MAX_TIMER_MS, `a whole number of milliseconds in 0..${MAX_TIMER_MS}`)

/**
 * A positive duration in whole milliseconds, 1..2147483647: for deadlines.
 *
 * @example
 * import { PositiveMilliseconds } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isLeft(PositiveMilliseconds.decode(0)))
 *
 * @since 0.1.0
 */
export const PositiveMilliseconds = integer(1, MAX_TIMER_MS, `a whole number of milliseconds in 1..${MAX_TIMER_MS}`)

const TRUE = new Set(['true', 'yes', 'y', 't', '1'])
const FALSE = new Set(['false', 'no', 'n', 'f', '0'])

/**
 * A flag: a boolean, `0`/`1`, or one of the strings Pip.Services reads as booleans
 * (`true`/`false`, `yes`/`no`, `y`/`n`, `t`/`f`, `1`/`0`; any case).
 *
 * @example
 * import { Flag } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(Flag.decode('TRUE'), E.right(true))
 *
 * @since 0.1.0
 */
export const Flag = new t.Type<boolean, boolean, unknown>(
  'a boolean ("true" or "false")',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => {
    if (typeof u === 'boolean') return t.success(u)
    if (u === 1 || u === 0) return t.success(u === 1)
    const s = typeof u === 'string' ? u.trim().toLowerCase() : undefined
    return s !== undefined && TRUE.has(s) ? t.success(true) : s !== undefined && FALSE.has(s) ? t.success(false) : t.failure(u, c)
  },
  (b) => b
)

/**
 * One of a few words, in any case and with surrounding spaces allowed;
 * decodes to the word as listed.
 *
 * @example
 * import { keyword } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(keyword('single', 'redlock').decode(' Redlock '), E.right('redlock'))
 * assert.ok(E.isLeft(keyword('single', 'redlock').decode('cluster')))
 *
 * @since 0.1.0
 */
export const keyword = <W extends string>(...words: ReadonlyArray<W>): t.Type<W, W, unknown> =>
  new t.Type<W, W, unknown>(
    `one of ${words.map((w) => `"${w}"`).join(', ')}`,
    (u): u is W => typeof u === 'string' && (words as ReadonlyArray<string>).includes(u),
    (u, c) => {
      const found = typeof u === 'string' ? words.find((w) => w === u.trim().toLowerCase()) : undefined
      return found === undefined ? t.failure(u, c) : t.success(found)
    },
    (w) => w
  )

/**
 * A non-empty string (after trimming spaces); the string is kept as given.
 *
 * @example
 * import { NonEmptyString } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isLeft(NonEmptyString.decode(' ')))
 *
 * @since 0.1.0
 */
export const NonEmptyString = new t.Type<string, string, unknown>(
  'a non-empty string',
  (u): u is string => typeof u === 'string' && u.trim().length > 0,
  (u, c) => (typeof u === 'string' && u.trim().length > 0 ? t.success(u) : t.failure(u, c)),
  (s) => s
)

/**
 * A string, or a number or bigint turned into one (a password may be written
 * as a number in a YAML or JSON config).
 *
 * @example
 * import { StringLike } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(StringLike.decode(1234), E.right('1234'))
 *
 * @since 0.1.0
 */
export const StringLike = new t.Type<string, string, unknown>(
  'a string',
  (u): u is string => typeof u === 'string',
  (u, c) =>
    typeof u === 'string'
      ? t.success(u)
      : (typeof u === 'number' && Number.isFinite(u)) || typeof u === 'bigint'
        ? t.success(String(u))
        : t.failure(u, c),
  (s) => s
)

/**
 * Decodes the value found at configuration key `key`; the error names the key,
 * the expectation and the value (`connection.port: expected an integer in
 * 1..65535, got "abc"`). With `secret`, the value is not shown, only its type.
 *
 * @example
 * import { decodeAt, Port } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(
 *   decodeAt('connection.port', Port)('abc'),
 *   E.left('connection.port: expected an integer in 1..65535, got "abc"')
 * )
 *
 * @since 0.1.0
 */
export const decodeAt =
  <A>(key: string, codec: t.Decoder<unknown, A>, secret = false) =>
  (value: unknown): E.Either<string, A> =>
    E.mapLeft(() => `${key}: expected ${codec.name}, got ${secret ? `a value of type ${typeof value}` : showValue(value)}`)(
      codec.decode(value)
    )
