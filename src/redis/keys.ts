/**
 * Redis key rules: cluster hash tags, the fencing counter and wait queue
 * beside each lock key, and the checks a key must pass before any I/O.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { LockError, invalidArgument } from '../LockError.js'

const quote = (key: string): string => JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key)

/**
 * The key's cluster hash tag, as Redis Cluster reads it: the text between the
 * first `{` and the first `}` after it, if that text is not empty. Keys with
 * the same tag live in the same cluster slot.
 *
 * @example
 * import { hashTag } from 'leaselock/redis'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(hashTag('{user:1}:lock'), O.some('user:1'))
 * assert.deepStrictEqual(hashTag('a{}b{c}'), O.none)
 * assert.deepStrictEqual(hashTag('plain'), O.none)
 *
 * @since 0.1.0
 */
export const hashTag = (key: string): O.Option<string> => {
  const open = key.indexOf('{')
  if (open < 0) return O.none
  const close = key.indexOf('}', open + 1)
  return close > open + 1 ? O.some(key.slice(open + 1, close)) : O.none
}

/**
 * The suffix of every fencing counter's name. Lock keys ending in it are
 * refused (see {@link checkRedisKey}), so a lock never lands on a counter.
 *
 * @example
 * import { FENCE_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(FENCE_SUFFIX, ':fence')
 *
 * @since 0.1.0
 */
export const FENCE_SUFFIX = ':fence'

/**
 * The suffix of every wait queue's name (the sorted set of waiters beside a
 * lock key). Lock keys ending in it are refused, like {@link FENCE_SUFFIX}.
 *
 * @example
 * import { QUEUE_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(QUEUE_SUFFIX, ':queue')
 *
 * @since 0.1.0
 */
export const QUEUE_SUFFIX = ':queue'

/**
 * The suffix of the hash of a semaphore's (or read-write lock's) live
 * permits. Lock and permit keys ending in it are refused, like
 * {@link FENCE_SUFFIX}.
 *
 * @example
 * import { HOLDERS_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(HOLDERS_SUFFIX, ':holders')
 *
 * @since 0.4.0
 */
export const HOLDERS_SUFFIX = ':holders'

/**
 * The suffix of the list of a semaphore's (or read-write lock's) waiters.
 * Lock and permit keys ending in it are refused, like {@link FENCE_SUFFIX}.
 *
 * @example
 * import { PERMIT_WAITERS_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(PERMIT_WAITERS_SUFFIX, ':permit-waiters')
 *
 * @since 0.4.0
 */
export const PERMIT_WAITERS_SUFFIX = ':permit-waiters'

/**
 * The suffix of the counter that numbers a semaphore's (or read-write lock's)
 * permits: a counter apart from the lock's of the same name, whose extends
 * answer their counter. Lock and permit keys ending in it are refused, like
 * {@link FENCE_SUFFIX}.
 *
 * @example
 * import { PERMIT_FENCE_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(PERMIT_FENCE_SUFFIX, ':permit-fence')
 *
 * @since 0.4.0
 */
export const PERMIT_FENCE_SUFFIX = ':permit-fence'

/**
 * The suffix of every wait queue's index (the hash from a waiter's token to
 * its entry, beside the queue). Lock keys ending in it are refused, like
 * {@link FENCE_SUFFIX}.
 *
 * @example
 * import { WAITERS_SUFFIX } from 'leaselock/redis'
 * assert.strictEqual(WAITERS_SUFFIX, ':waiters')
 *
 * @since 0.3.0
 */
export const WAITERS_SUFFIX = ':waiters'

/**
 * The name of a key that lives beside a lock key (its fencing counter, its
 * wait queue), chosen so that it shares the lock key's cluster slot and one
 * script can touch both:
 *
 * - a key with a valid hash tag keeps it: `<key><suffix>` (`{user:1}:lock` → `{user:1}:lock:fence`);
 * - any other key becomes the tag: `{<key>}<suffix>` (`jobs:nightly` → `{jobs:nightly}:fence`).
 *
 * A key with a `}` but no valid tag (`a}b`, `x{}y`) is hashed whole, and no
 * name built around it can share its slot: such keys are refused.
 *
 * @example
 * import { companionKey } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(companionKey(':queue')('jobs:nightly'), E.right('{jobs:nightly}:queue'))
 * assert.deepStrictEqual(companionKey(':queue')('{user:1}:lock'), E.right('{user:1}:lock:queue'))
 * assert.ok(E.isLeft(companionKey(':queue')('a}b')))
 *
 * @since 0.1.0
 */
export const companionKey =
  (suffix: string) =>
  (key: string): E.Either<LockError, string> =>
    O.isSome(hashTag(key))
      ? E.right(`${key}${suffix}`)
      : key.includes('}')
        ? E.left(
            invalidArgument(
              `a Redis lock key that contains "}" must contain a hash tag "{…}" (its fencing counter and wait queue must share the key's cluster slot), got ${quote(key)}`
            )
          )
        : E.right(`{${key}}${suffix}`)

/**
 * The name of the counter that numbers a lock key's acquisitions (the fencing
 * token): the {@link companionKey} with suffix {@link FENCE_SUFFIX}. The
 * counter expires once the key has been idle for the store's `fenceIdleMs`,
 * and a missing counter is re-seeded from the server's clock in microseconds
 * (see `redisStore`), so a key nobody locks any more leaves nothing behind
 * while its tokens keep growing.
 *
 * Every lock key has a counter of its own: a key that is nothing but a hash
 * tag (`{a}`) would otherwise share `{a}:fence` with the key `a`, and an
 * extend (which answers the counter) could then give a lease on `a` the fence
 * of the holder of `{a}`. Such a key counts in `{a}:fence:fence`, a name no
 * other lock key can have (lock keys ending in `:fence` are refused).
 *
 * @example
 * import { fenceKey } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(fenceKey('jobs:nightly'), E.right('{jobs:nightly}:fence'))
 * assert.deepStrictEqual(fenceKey('{user:1}:lock'), E.right('{user:1}:lock:fence'))
 * assert.deepStrictEqual(fenceKey('{user:1}'), E.right('{user:1}:fence:fence'))
 * assert.ok(E.isLeft(fenceKey('a}b')))
 *
 * @since 0.1.0
 */
export const fenceKey = (key: string): E.Either<LockError, string> =>
  O.exists((tag: string) => key === `{${tag}}`)(hashTag(key)) ? E.right(`${key}${FENCE_SUFFIX}${FENCE_SUFFIX}`) : companionKey(FENCE_SUFFIX)(key)

/**
 * The name of the sorted set where waiters for a lock key queue, in arrival
 * order and by deadline: the {@link companionKey} with suffix
 * {@link QUEUE_SUFFIX}. It exists only while someone waits, and expires after
 * its last waiter's deadline. Two keys can share a queue (`{a}` and `a`
 * both use `{a}:queue`); each entry is filed under its key (see `scripts`), so a
 * release only ever hands its key to a waiter of that key.
 *
 * @example
 * import { queueKey } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(queueKey('jobs:nightly'), E.right('{jobs:nightly}:queue'))
 *
 * @since 0.1.0
 */
export const queueKey: (key: string) => E.Either<LockError, string> = companionKey(QUEUE_SUFFIX)

const RESERVED_FOR_PERMITS = [HOLDERS_SUFFIX, PERMIT_WAITERS_SUFFIX, PERMIT_FENCE_SUFFIX]

/**
 * The Redis keys behind the permits of a semaphore or read-write lock key,
 * all in its cluster slot (see {@link companionKey}): the hash of live
 * permits, their fencing counter (apart from a lock's of the same name) and
 * the wait queue. A key and the same key as a bare hash tag (`a`, `{a}`)
 * name one semaphore.
 *
 * @example
 * import { permitKeys } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(permitKeys('api:quota'), E.right(['{api:quota}:holders', '{api:quota}:permit-fence', '{api:quota}:permit-waiters']))
 *
 * @since 0.4.0
 */
export const permitKeys = (key: string): E.Either<LockError, readonly [string, string, string]> => {
  const holders = companionKey(HOLDERS_SUFFIX)(key)
  if (E.isLeft(holders)) return holders
  const waiters = companionKey(PERMIT_WAITERS_SUFFIX)(key)
  if (E.isLeft(waiters)) return waiters
  return E.map((fence: string) => [holders.right, fence, waiters.right] as const)(companionKey(PERMIT_FENCE_SUFFIX)(key))
}

/**
 * The name of the hash that indexes a lock key's queue by waiter (its token →
 * its entry: place, deadline, claim TTL, channel): the {@link companionKey}
 * with suffix {@link WAITERS_SUFFIX}. It lives as long as the queue, and two
 * keys that share a queue share it.
 *
 * @example
 * import { waitersKey } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(waitersKey('jobs:nightly'), E.right('{jobs:nightly}:waiters'))
 *
 * @since 0.3.0
 */
export const waitersKey: (key: string) => E.Either<LockError, string> = companionKey(WAITERS_SUFFIX)

/**
 * The longest key accepted by default, in UTF-8 bytes. Redis itself accepts
 * up to 512 MB; a lock key past a few kilobytes is a bug in the caller.
 *
 * @example
 * import { DEFAULT_MAX_KEY_BYTES, checkRedisKey } from 'leaselock/redis'
 * const check = checkRedisKey(DEFAULT_MAX_KEY_BYTES)
 *
 * @since 0.1.0
 */
export const DEFAULT_MAX_KEY_BYTES = 8192

/**
 * Checks a lock key (already a non-empty string) against the Redis rules: at
 * most `maxKeyBytes` UTF-8 bytes, not ending in `:fence`, `:queue`, `:waiters`,
 * `:holders`, `:permit-waiters` or `:permit-fence`, and
 * names for its companions can be built (see {@link companionKey}).
 *
 * @example
 * import { checkRedisKey } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(checkRedisKey(8192)('orders:42')))
 * assert.ok(E.isLeft(checkRedisKey(8192)('orders:42:fence')))
 * assert.ok(E.isLeft(checkRedisKey(8192)('orders:42:queue')))
 * assert.ok(E.isLeft(checkRedisKey(8192)('orders:42:waiters')))
 * assert.ok(E.isLeft(checkRedisKey(4)('orders:42')))
 *
 * @since 0.1.0
 */
export const checkRedisKey =
  (maxKeyBytes: number) =>
  (key: string): E.Either<LockError, string> => {
    const bytes = Buffer.byteLength(key, 'utf8')
    if (bytes > maxKeyBytes)
      return E.left(invalidArgument(`a Redis lock key must be at most ${maxKeyBytes} bytes (UTF-8), got ${bytes} bytes`))
    if (key.endsWith(FENCE_SUFFIX))
      return E.left(
        invalidArgument(`Redis lock keys ending in "${FENCE_SUFFIX}" are reserved for fencing counters, got ${quote(key)}`)
      )
    if (key.endsWith(QUEUE_SUFFIX))
      return E.left(invalidArgument(`Redis lock keys ending in "${QUEUE_SUFFIX}" are reserved for wait queues, got ${quote(key)}`))
    if (key.endsWith(WAITERS_SUFFIX))
      return E.left(invalidArgument(`Redis lock keys ending in "${WAITERS_SUFFIX}" are reserved for wait queue indexes, got ${quote(key)}`))
    const permits = RESERVED_FOR_PERMITS.find((suffix) => key.endsWith(suffix))
    if (permits !== undefined)
      return E.left(invalidArgument(`Redis lock keys ending in "${permits}" are reserved for semaphores and read-write locks, got ${quote(key)}`))
    return E.map(() => key)(fenceKey(key))
  }
