/**
 * Turns any memcached {@link Driver} (binary protocol) into a {@link Store}:
 * ADD to acquire, and compare-then-act release and extend keyed on the item's
 * CAS.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { pipe } from 'fp-ts/lib/function.js'
import type { Driver } from '../Driver.js'
import { LockError, driverFailure } from '../LockError.js'
import type { Grant, Held, Store } from '../Store.js'
import { MAX_EXPIRATION_SECONDS, checkMemcachedTtl, expirySeconds, validityMs } from './expiry.js'
import { MAX_KEY_SIZE, checkMemcachedKey } from './keys.js'
import {
  Cas,
  Item,
  MemcachedRequest,
  MemcachedResponse,
  addRequest,
  decodeAdd,
  decodeDelete,
  decodeGet,
  decodeSet,
  deleteRequest,
  getRequest,
  setRequest
} from './protocol.js'

/**
 * A driver for memcached: sends one binary-protocol request, answers its
 * response (whatever its status). A `Left` is a transport failure, with
 * `indeterminate` telling whether the request may have been applied.
 *
 * @example
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * import { MemcachedDriver, Status } from 'leaselock/memcached'
 * const alwaysExists: MemcachedDriver = { send: () => TE.right({ status: Status.KeyExists, cas: 0n, value: new Uint8Array(0) }) }
 *
 * @since 0.1.0
 */
export type MemcachedDriver = Driver<MemcachedRequest, MemcachedResponse>

/**
 * @example
 * import { MemcachedStoreOptions } from 'leaselock/memcached'
 * const shortKeysHourLocks: MemcachedStoreOptions = { maxKeySize: 64, maxExpirationSeconds: 3600 }
 *
 * @since 0.1.0
 */
export interface MemcachedStoreOptions {
  /** The longest key accepted, in UTF-8 bytes (at most and by default {@link MAX_KEY_SIZE}). */
  readonly maxKeySize?: number
  /** The longest expiry accepted, in seconds (at most and by default {@link MAX_EXPIRATION_SECONDS}). */
  readonly maxExpirationSeconds?: number
}

/**
 * A store over a memcached driver.
 *
 * - **acquire**: ADD of the key with this acquisition's token as the value, and
 *   the TTL in whole seconds rounded up (see `expirySeconds`). The grant's
 *   `revision` is the item's CAS in decimal, its `validityMs` is what
 *   memcached's one-second clock guarantees (see `validityMs`: N − 2 s for an
 *   N-second expiry). A TTL of 2 s or less still locks (the key expires within
 *   the TTL rounded up to whole seconds) but gives a lease with no guaranteed
 *   validity, which `withLock` reports lost at once: use 3 s or more when the
 *   lease's validity matters.
 * - **release**: GET, and if the value is our token, DELETE carrying the CAS the
 *   GET answered: it deletes only that very item, so if the lease expired and
 *   someone else took the key in between, their item stays. The token check
 *   makes a stale or foreign `Held` harmless; using the GET's CAS rather than
 *   `revision` lets a holder release even when the reply to its last extend
 *   was lost (its item then has a newer CAS).
 * - **extend**: the same GET and token check, then SET carrying that CAS (a
 *   compare-and-extend; TOUCH would ignore the CAS). The new grant's `revision`
 *   is the new CAS.
 *
 * **Fencing** (`Grant.fence` is the CAS of the ADD): memcached numbers every
 * store on a server from one counter, so each acquisition of a key gets a
 * larger fence than every earlier one *while the key maps to the same server
 * and that server process keeps running*. Evicting or flushing items does not
 * reset the counter. Not guaranteed: after a server restart the counter starts
 * again from 1 (a holder from before the restart may carry a larger fence than
 * the new holder); keys on different servers number independently, and a
 * change of the server list can move a key to another counter. (An extend's
 * grant carries its new CAS as `fence`; the lock core keeps the acquisition's.)
 *
 * **CAS disabled** (`memcached -C`): such a server answers CAS 0 and ignores
 * the CAS of SET, so no lock can be released safely there: the store refuses
 * with a `DriverFailure` whose cause is a `CasDisabledError`, and never sends
 * a request carrying CAS 0. An ADD that was stored before the refusal keeps its
 * key until it expires.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectMemcached, memcachedStore } from 'leaselock/memcached'
 *
 * const connected = await connectMemcached({ servers: [{ host: 'localhost', port: 11211 }] })()
 * if (connected._tag === 'Right') {
 *   const lock = makeLock(memcachedStore(connected.right.driver))
 *   const lease = await lock.acquire('reports:daily', 30_000, 5_000)()
 *   if (lease._tag === 'Right') await lock.release(lease.right)()
 *   await connected.right.close()
 * }
 *
 * @since 0.1.0
 */
export const memcachedStore = (driver: MemcachedDriver, options: MemcachedStoreOptions = {}): Store => {
  const send =
    <A>(decode: (key: string) => (res: MemcachedResponse) => E.Either<LockError, A>) =>
    (key: string, req: MemcachedRequest): TE.TaskEither<LockError, A> =>
      pipe(
        driver.send(req),
        TE.mapLeft((e) => driverFailure(key, e.cause, e.indeterminate)),
        TE.chainEitherK(decode(key))
      )

  const grant =
    (ttlMs: number) =>
    (cas: Cas): Grant => ({ fence: cas, validityMs: validityMs(ttlMs), revision: String(cas) })

  const ours = (held: Held): TE.TaskEither<LockError, O.Option<Item>> =>
    pipe(
      send(decodeGet)(held.key, getRequest(held.key)),
      TE.map(O.filter((item) => item.value === held.token))
    )

  return {
    name: 'memcached',
    checkKey: checkMemcachedKey(Math.min(options.maxKeySize ?? MAX_KEY_SIZE, MAX_KEY_SIZE)),
    checkTtl: checkMemcachedTtl(Math.min(options.maxExpirationSeconds ?? MAX_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS)),
    acquire: (key, token, ttlMs) =>
      pipe(send(decodeAdd)(key, addRequest(key, token, expirySeconds(ttlMs))), TE.map(O.map(grant(ttlMs)))),
    release: (held) =>
      pipe(
        ours(held),
        TE.chain(
          O.match(
            () => TE.right(false),
            (item) => send(decodeDelete)(held.key, deleteRequest(held.key, item.cas))
          )
        )
      ),
    extend: (held, ttlMs) =>
      pipe(
        ours(held),
        TE.chain(
          O.match(
            () => TE.right(O.none),
            (item) =>
              pipe(
                send(decodeSet)(held.key, setRequest(held.key, held.token, expirySeconds(ttlMs), item.cas)),
                TE.map(O.map(grant(ttlMs)))
              )
          )
        )
      )
  }
}
