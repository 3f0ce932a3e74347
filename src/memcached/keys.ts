/**
 * memcached key rules, checked before any I/O.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { LockError, invalidArgument } from '../LockError.js'

/**
 * memcached's longest key, in bytes (`KEY_MAX_LENGTH`), and the default of
 * `options.max_key_size`.
 *
 * @example
 * import { MAX_KEY_SIZE } from 'leaselock/memcached'
 * assert.strictEqual(MAX_KEY_SIZE, 250)
 *
 * @since 0.1.0
 */
export const MAX_KEY_SIZE = 250

const quote = (key: string): string => JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key)

const FORBIDDEN = /[\p{Cc} ]/u

/**
 * Checks a lock key (already a non-empty string) against memcached's rules: at
 * most `maxKeySize` bytes in UTF-8, and no spaces or control characters (the
 * text protocol could not carry it, so other clients could not see the lock).
 *
 * @example
 * import { checkMemcachedKey } from 'leaselock/memcached'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(checkMemcachedKey(250)('jobs:nightly')))
 * assert.ok(E.isLeft(checkMemcachedKey(250)('jobs nightly')))
 * assert.ok(E.isLeft(checkMemcachedKey(4)('jobs:nightly')))
 *
 * @since 0.1.0
 */
export const checkMemcachedKey =
  (maxKeySize: number) =>
  (key: string): E.Either<LockError, string> => {
    const bytes = Buffer.byteLength(key, 'utf8')
    if (bytes > maxKeySize)
      return E.left(invalidArgument(`a memcached lock key must be at most ${maxKeySize} bytes (UTF-8), got ${bytes} bytes`))
    const bad = FORBIDDEN.exec(key)
    if (bad !== null)
      return E.left(
        invalidArgument(
          `a memcached lock key must not contain spaces or control characters, got ${quote(key)} (U+${bad[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')} at index ${bad.index})`
        )
      )
    return E.right(key)
  }
