/**
 * Argument checks shared by every backend, run before any I/O.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { Lease, driftMs } from './Lease.js'
import { LockError, invalidArgument } from './LockError.js'

const show = (u: unknown): string => {
  if (typeof u === 'string') return JSON.stringify(u.length > 60 ? `${u.slice(0, 60)}…` : u)
  if (typeof u === 'number' || typeof u === 'bigint' || typeof u === 'boolean' || u == null) return String(u)
  if (typeof u === 'function') return 'a function'
  return Object.prototype.toString.call(u)
}

/**
 * A key is a non-empty string of well-formed UTF-16 (no lone surrogates, which no
 * server could store faithfully). Backends add their own rules (length, characters).
 *
 * @example
 * import { validateKey } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(validateKey('jobs:nightly')))
 * assert.ok(E.isLeft(validateKey('')))
 *
 * @since 0.1.0
 */
export const validateKey = (key: unknown): E.Either<LockError, string> =>
  typeof key !== 'string'
    ? E.left(invalidArgument(`key must be a non-empty string, got ${show(key)}`))
    : key.length === 0
      ? E.left(invalidArgument('key must be a non-empty string, got ""'))
      : !key.isWellFormed()
        ? E.left(invalidArgument(`key must be well-formed UTF-16 (no lone surrogates), got ${show(key)}`))
        : E.right(key)

/**
 * A TTL is a safe integer number of milliseconds above the drift allowance
 * (see `driftMs`: 1% + 2 ms), so at least 3: a shorter one could never be
 * proven valid, and every grant of it would be given back.
 *
 * @example
 * import { validateTtl } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(validateTtl(3000)))
 * assert.ok(E.isRight(validateTtl(3)))
 * assert.ok(E.isLeft(validateTtl(2)))
 * assert.ok(E.isLeft(validateTtl(1.5)))
 *
 * @since 0.1.0
 */
export const validateTtl = (ttlMs: unknown): E.Either<LockError, number> =>
  typeof ttlMs === 'number' && Number.isSafeInteger(ttlMs) && ttlMs > driftMs(ttlMs)
    ? E.right(ttlMs)
    : E.left(invalidArgument(`ttlMs must be a safe integer of milliseconds above the drift allowance (1% + 2 ms, so at least 3), got ${show(ttlMs)}`))

/**
 * A timeout is a non-negative safe integer number of milliseconds; 0 means one attempt.
 *
 * @example
 * import { validateTimeout } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(validateTimeout(0)))
 * assert.ok(E.isLeft(validateTimeout(-1)))
 *
 * @since 0.1.0
 */
export const validateTimeout = (timeoutMs: unknown): E.Either<LockError, number> =>
  typeof timeoutMs === 'number' && Number.isSafeInteger(timeoutMs) && timeoutMs >= 0
    ? E.right(timeoutMs)
    : E.left(invalidArgument(`timeoutMs must be a non-negative safe integer (milliseconds), got ${show(timeoutMs)}`))

/**
 * What a store checks of keys and TTLs before any I/O (a lock's `Store`, a
 * semaphore's `PermitStore`).
 *
 * @example
 * import { KeyRules } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const anything: KeyRules = { checkKey: E.right, checkTtl: E.right }
 *
 * @since 0.4.0
 */
export interface KeyRules {
  readonly checkKey: (key: string) => E.Either<LockError, string>
  readonly checkTtl: (ttlMs: number) => E.Either<LockError, number>
}

/**
 * A key checked by the common rules ({@link validateKey}), then by the store's.
 *
 * @example
 * import { checkKey } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const rules = { checkKey: E.right, checkTtl: E.right }
 * assert.ok(E.isRight(checkKey(rules, 'jobs:nightly')))
 * assert.ok(E.isLeft(checkKey(rules, 42)))
 *
 * @since 0.4.0
 */
export const checkKey = (rules: KeyRules, key: unknown): E.Either<LockError, string> => {
  const valid = validateKey(key)
  return E.isLeft(valid) ? valid : rules.checkKey(valid.right)
}

/**
 * A TTL checked by the common rules ({@link validateTtl}), then by the store's.
 *
 * @example
 * import { checkTtl } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const rules = { checkKey: E.right, checkTtl: E.right }
 * assert.ok(E.isRight(checkTtl(rules, 1_000)))
 * assert.ok(E.isLeft(checkTtl(rules, 0)))
 *
 * @since 0.4.0
 */
export const checkTtl = (rules: KeyRules, ttlMs: unknown): E.Either<LockError, number> => {
  const valid = validateTtl(ttlMs)
  return E.isLeft(valid) ? valid : rules.checkTtl(valid.right)
}

/**
 * A lease (or permit) handed back by a caller: its key must pass the checks.
 *
 * @example
 * import { checkLease } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const rules = { checkKey: E.right, checkTtl: E.right }
 * assert.ok(E.isLeft(checkLease(rules, undefined)))
 *
 * @since 0.4.0
 */
export const checkLease = <L extends Lease>(rules: KeyRules, lease: unknown): E.Either<LockError, L> => {
  const key = checkKey(rules, (lease as Partial<Lease> | null | undefined)?.key)
  return E.isLeft(key) ? key : E.right(lease as L)
}

/**
 * The first `Left` of two checks, or both right values.
 *
 * @example
 * import { firstLeft, validateKey, validateTimeout } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(firstLeft(validateKey('k'), validateTimeout(5)), E.right(['k', 5]))
 *
 * @since 0.4.0
 */
export const firstLeft = <A, B>(a: E.Either<LockError, A>, b: E.Either<LockError, B>): E.Either<LockError, readonly [A, B]> =>
  E.isLeft(a) ? a : E.isLeft(b) ? b : E.right([a.right, b.right] as const)
