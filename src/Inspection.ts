/**
 * What a store can tell about a key right now — held or not, remaining TTL,
 * fencing counter, waiters queued — for dashboards and operators, and the
 * typed answer for what a backend cannot tell.
 *
 * Inspection only reads: it never takes, extends or frees a key, and what it
 * answers may change the moment it was read.
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { LockError } from './LockError.js'
import type { Store } from './Store.js'
import { validateKey } from './validate.js'

/**
 * A backend cannot tell this (`what` is an {@link Inspection} field, or
 * `'inspect'` for a store that cannot be inspected at all), or cannot do it
 * (`'permits'`: semaphores and read-write locks), and why. As a `LockError`
 * its code is `UNSUPPORTED`.
 *
 * @example
 * import { Unsupported } from 'leaselock'
 * const e: Unsupported = { _tag: 'Unsupported', store: 'memcached', what: 'waiters', why: 'memcached keeps no queue: its waiters poll' }
 *
 * @since 0.3.0
 */
export interface Unsupported {
  readonly _tag: 'Unsupported'
  /** The store's name (`Store.name`). */
  readonly store: string
  readonly what: 'remainingMs' | 'fence' | 'waiters' | 'inspect' | 'permits'
  readonly why: string
}

/**
 * @example
 * import { unsupported } from 'leaselock'
 * assert.strictEqual(unsupported('memcached', 'waiters', 'no queue').what, 'waiters')
 *
 * @since 0.3.0
 */
export const unsupported = (store: string, what: Unsupported['what'], why: string): Unsupported => ({
  _tag: 'Unsupported',
  store,
  what,
  why
})

/**
 * A key as its store sees it at one moment. Each field but `held` is what the
 * backend can tell, or {@link Unsupported}.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import { Inspection } from 'leaselock'
 * const free: Inspection = { key: 'jobs:nightly', held: false, remainingMs: E.right(0), fence: E.right(12n), waiters: E.right(0) }
 *
 * @since 0.3.0
 */
export interface Inspection {
  readonly key: string
  /** Whether a lease (or a handover waiting to be claimed) holds the key now. */
  readonly held: boolean
  /**
   * How long the key stays held unless it is extended or released, in ms: 0
   * when free, `Infinity` for a key someone set without a TTL (never
   * leaselock).
   */
  readonly remainingMs: E.Either<Unsupported, number>
  /**
   * The fencing counter: the fence of the key's latest grant — the holder's,
   * while held — which every later grant exceeds; `0n` if the key was never
   * granted (see each backend's fencing guarantee).
   */
  readonly fence: E.Either<Unsupported, bigint>
  /** How many waiters are queued for the key and still within their deadline. */
  readonly waiters: E.Either<Unsupported, number>
}

/**
 * Inspects `key` in `store`: the key is checked first (the common rules and
 * the store's own, before any I/O: `InvalidArgument`); a store that cannot be
 * inspected answers {@link Unsupported} with `what: 'inspect'`.
 *
 * @example
 * import { inspect, makeLock } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const store = memoryStore()
 * await makeLock(store).acquire('reports:daily', 30_000, 0)()
 * const seen = await inspect(store, 'reports:daily')()
 * assert.ok(seen._tag === 'Right' && seen.right.held)
 *
 * @since 0.3.0
 */
export const inspect =
  (store: Store, key: string): TE.TaskEither<LockError | Unsupported, Inspection> =>
  async () => {
    const valid = validateKey(key)
    if (E.isLeft(valid)) return valid
    const checked = store.checkKey(key)
    if (E.isLeft(checked)) return checked
    if (store.inspect === undefined) return E.left(unsupported(store.name, 'inspect', `the ${store.name} store cannot be inspected`))
    return store.inspect(key)()
  }

const known = <A>(field: E.Either<Unsupported, A>, show: (a: A) => string): string =>
  E.isRight(field) ? show(field.right) : `unknown (${field.left.why})`

/**
 * An inspection as lines of text, one field per line, as `leaselock inspect`
 * prints it.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import { showInspection } from 'leaselock'
 * const text = showInspection({ key: 'k', held: true, remainingMs: E.right(2_500), fence: E.right(3n), waiters: E.right(1) })
 * assert.strictEqual(text, 'key        k\nheld       yes\nremaining  2500 ms\nfence      3\nwaiters    1')
 *
 * @since 0.3.0
 */
export const showInspection = (i: Inspection): string =>
  [
    `key        ${i.key}`,
    `held       ${i.held ? 'yes' : 'no'}`,
    `remaining  ${known(i.remainingMs, (ms) => (ms === Infinity ? 'never expires' : `${ms} ms`))}`,
    `fence      ${known(i.fence, String)}`,
    `waiters    ${known(i.waiters, String)}`
  ].join('\n')

/**
 * An inspection as a JSON-ready object: each field its value, or `null` with
 * the reason under `unknown`.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import { inspectionJson, unsupported } from 'leaselock'
 * const json = inspectionJson({ key: 'k', held: false, remainingMs: E.right(0), fence: E.left(unsupported('memcached', 'fence', 'no counter')), waiters: E.right(0) })
 * assert.deepStrictEqual(json, { key: 'k', held: false, remainingMs: 0, fence: null, waiters: 0, unknown: { fence: 'no counter' } })
 *
 * @since 0.3.0
 */
export const inspectionJson = (i: Inspection): Record<string, unknown> => {
  const unknown: Record<string, string> = {}
  const value = <A>(name: string, field: E.Either<Unsupported, A>, toJson: (a: A) => unknown): unknown => {
    if (E.isRight(field)) return toJson(field.right)
    unknown[name] = field.left.why
    return null
  }
  return {
    key: i.key,
    held: i.held,
    remainingMs: value('remainingMs', i.remainingMs, (ms) => (ms === Infinity ? 'never' : ms)),
    fence: value('fence', i.fence, String),
    waiters: value('waiters', i.waiters, (n) => n),
    ...(Object.keys(unknown).length > 0 ? { unknown } : {})
  }
}
