/**
 * Turns any memcached {@link Driver} (binary protocol) into a {@link Store}:
 * ADD to acquire, and compare-then-act release and extend keyed on the item's
 * CAS.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type { Driver, DriverError } from '../Driver.js'
import { Inspection, unsupported } from '../Inspection.js'
import { LockError, driverFailure } from '../LockError.js'
import type { Grant, Held, Store } from '../Store.js'
import { MAX_EXPIRATION_SECONDS, checkMemcachedTtl, expirySeconds, validityMs } from './expiry.js'
import { MAX_KEY_SIZE, checkMemcachedKey } from './keys.js'
import {
  Cas,
  ConnectionChangedError,
  MemcachedRequest,
  MemcachedResponse,
  Status,
  addRequest,
  decodeAdd,
  decodeDelete,
  decodeGet,
  decodeSet,
  deleteRequest,
  getRequest,
  parseRevision,
  setRequest,
  showRevision
} from './protocol.js'

/**
 * A driver for memcached: sends one binary-protocol request, answers its
 * response (whatever its status). A `Left` is a transport failure, with
 * `indeterminate` telling whether the request may have been applied. A driver
 * that names the connection of its responses must honour a request's
 * `connection` (see `MemcachedRequest`); a driver that names none is never
 * asked to.
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
 * const behindMcrouter: MemcachedStoreOptions = { verifyOwnership: true }
 *
 * @since 0.1.0
 */
export interface MemcachedStoreOptions {
  /** The longest key accepted, in UTF-8 bytes (at most and by default {@link MAX_KEY_SIZE}). */
  readonly maxKeySize?: number
  /** The longest expiry accepted, in seconds (at most and by default {@link MAX_EXPIRATION_SECONDS}). */
  readonly maxExpirationSeconds?: number
  /**
   * Release and extend always take the verified path (GET, token check, then
   * DELETE or SET carrying the CAS the GET answered): one more round trip
   * each, and no reliance on a restart breaking the connection. Set it when a
   * proxy (mcrouter, twemproxy) sits between the client and memcached. Off by
   * default.
   */
  readonly verifyOwnership?: boolean
}

/** The CAS a revision names (`<cas>@<connection>`, or a bare CAS), if it names one. */
const casOfRevision = (revision: string): bigint | undefined => {
  const parsed = parseRevision(revision)
  return parsed !== undefined ? parsed.cas : /^[1-9][0-9]{0,19}$/.test(revision) ? BigInt(revision) : undefined
}

/**
 * A store over a memcached driver.
 *
 * - **acquire**: ADD of the key with this acquisition's token as the value, and
 *   the TTL in whole seconds rounded up (see `expirySeconds`). The grant's
 *   `fence` is the item's CAS; its `revision` is `<cas>@<connection>` (see
 *   `showRevision`): the CAS, and the connection that answered the ADD (just
 *   `<cas>` when the driver names no connections). Its `validityMs` is what
 *   memcached's one-second clock guarantees (see `validityMs`: N − 2 s for an
 *   N-second expiry). A TTL of 2 s or less still locks (the key expires within
 *   the TTL rounded up to whole seconds) but gives a lease with no guaranteed
 *   validity, which `withLock` reports lost at once: use 3 s or more when the
 *   lease's validity matters.
 * - **release**, in one round trip: DELETE carrying the revision's CAS,
 *   restricted to the revision's connection. It deletes only the very item our
 *   ADD (or our last extend) stored — a CAS names one version of one item
 *   within one server process, and the connection pins the process. Deleted:
 *   `true`; no such key: `false`. The **verified path** runs instead when the
 *   item has another CAS (the reply to our last extend was lost, so our item
 *   has a newer one; or the key is someone else's), when the connection
 *   changed (the driver then sends nothing), when the revision is not
 *   `<cas>@<connection>`, and always with `verifyOwnership`: GET, and if the
 *   value is our token, DELETE carrying the CAS the GET answered, on the
 *   connection that answered it (from the GET once more if that connection
 *   changed in between). The token check makes a stale or foreign `Held`
 *   harmless.
 * - **extend**: the same two paths with SET carrying the CAS (a
 *   compare-and-extend; TOUCH would ignore the CAS), our token as the value
 *   and the new expiry. The new grant's `revision` is the new CAS and the
 *   connection that answered.
 *
 * A revision is a capability: the fast path trusts it and compares no
 * tokens, so present a revision only with the token of the grant it came
 * from (as the lock core does). A revision from another connection or another
 * process takes the verified path.
 *
 * **What the fast path assumes**: that a server restart breaks every
 * connection to the server. After a restart the CAS counter starts again and
 * can hand a CAS from before the restart to a new holder's item; since a
 * request carrying a CAS is only sent on the connection that got the CAS, the
 * old CAS never reaches the new process. That holds when the client talks to
 * memcached itself. Through a proxy (mcrouter, twemproxy) a server can
 * restart behind an unbroken connection: set `verifyOwnership: true` there,
 * which always takes the verified path.
 *
 * **Fencing** (`Grant.fence` is the CAS of the ADD): memcached numbers every
 * store on a server from one counter, so each acquisition of a key gets a
 * larger fence than every earlier one *while the key maps to the same server
 * and that server process keeps running*. Evicting or flushing items does not
 * reset the counter. Not guaranteed: after a server restart the counter starts
 * again from 1 (a holder from before the restart may carry a larger fence than
 * the new holder); keys on different servers number independently, and a
 * change of the server list can move a key to another counter. An extend's
 * grant carries the item's new CAS as `fence`, and the holder carries it on:
 * it is above every earlier holder's fence and below every later one's, like
 * the ADD's, and it is the fence of the item as it stands (a late or repeated
 * ADD of the same token after the item lapsed made a new item).
 *
 * **inspect** is one GET: it tells whether the key is held, and nothing
 * more — memcached's binary protocol cannot read an item's remaining TTL, the
 * item's CAS is the holder's fence only once the reply to its latest write
 * came back, and waiters
 * poll without the server knowing: those fields are `Unsupported`.
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
 * const connected = await connectMemcached({ servers: [{ host: 'localhost', port: Number(process.env.MEMCACHED_PORT ?? 11211) }] })()
 * assert.ok(connected._tag === 'Right')
 * const lock = makeLock(memcachedStore(connected.right.driver))
 * const lease = await lock.acquire('reports:daily', 30_000, 5_000)()
 * assert.ok(lease._tag === 'Right')
 * await lock.release(lease.right)()
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const memcachedStore = (driver: MemcachedDriver, options: MemcachedStoreOptions = {}): Store => {
  const verifyOwnership = options.verifyOwnership === true

  // The per-request paths are plain async code over Either values: fp-ts's
  // pipeable combinators copy their arguments on every call.

  const failure = (key: string, e: DriverError): LockError => driverFailure(key, e.cause, e.indeterminate)

  const grant = (ttlMs: number, cas: Cas, connection: number | undefined): Grant => ({
    fence: cas,
    validityMs: validityMs(ttlMs),
    revision: connection === undefined ? String(cas) : showRevision({ cas, connection })
  })

  /** A request carrying `cas`, restricted to `connection` when it is known. */
  type Act = (cas: Cas, connection: number | undefined) => MemcachedRequest
  /** The answer of a release or extend to the response to its {@link Act}. */
  type Outcome<A> = (res: MemcachedResponse) => E.Either<LockError, A>

  /**
   * The fast path: the act with the revision's CAS on the revision's
   * connection. `undefined` when only the verified path can tell: another
   * CAS, another connection, no such revision, or `verifyOwnership`.
   */
  const fast = async <A>(held: Held, act: Act, outcome: Outcome<A>): Promise<E.Either<LockError, A> | undefined> => {
    const revision = verifyOwnership ? undefined : parseRevision(held.revision)
    if (revision === undefined) return undefined
    const sent = await driver.send(act(revision.cas, revision.connection))()
    if (E.isLeft(sent)) return sent.left.cause instanceof ConnectionChangedError ? undefined : E.left(failure(held.key, sent.left))
    return sent.right.status === Status.KeyExists ? undefined : outcome(sent.right)
  }

  /**
   * The verified path: GET, and if the item holds our token, the act with the
   * CAS the GET answered on the connection that answered it; from the GET
   * once more if that connection changed in between. An item whose CAS is
   * below the one we last wrote is not ours although it holds our token: the
   * server restarted (its CAS counter started again) and a late ADD of ours
   * made it; adopting it would lower the holder's fence.
   */
  const verified = async <A>(held: Held, act: Act, outcome: Outcome<A>, notOurs: A): Promise<E.Either<LockError, A>> => {
    for (let attempt = 1; ; attempt++) {
      const got = await driver.send(getRequest(held.key))()
      if (E.isLeft(got)) return E.left(failure(held.key, got.left))
      const item = decodeGet(held.key)(got.right)
      if (E.isLeft(item)) return item
      if (O.isNone(item.right) || item.right.value.value !== held.token) return E.right(notOurs)
      const last = casOfRevision(held.revision)
      if (last !== undefined && item.right.value.cas < last) return E.right(notOurs)
      const sent = await driver.send(act(item.right.value.cas, got.right.connection))()
      if (E.isRight(sent)) return outcome(sent.right)
      if (!(sent.left.cause instanceof ConnectionChangedError) || attempt === 2) return E.left(failure(held.key, sent.left))
    }
  }

  const release: Store['release'] = (held) => {
    const act: Act = (cas, connection) => deleteRequest(held.key, cas, connection)
    const outcome = decodeDelete(held.key)
    return async () => (await fast(held, act, outcome)) ?? verified(held, act, outcome, false)
  }

  const extend: Store['extend'] = (held, ttlMs) => {
    const expiry = expirySeconds(ttlMs)
    const act: Act = (cas, connection) => setRequest(held.key, held.token, expiry, cas, connection)
    const decode = decodeSet(held.key)
    const outcome: Outcome<O.Option<Grant>> = (res) => {
      const set = decode(res)
      return E.isRight(set) && O.isSome(set.right)
        ? E.right(O.some(grant(ttlMs, set.right.value, res.connection)))
        : (set as E.Either<LockError, O.Option<never>>)
    }
    return async () => (await fast(held, act, outcome)) ?? verified(held, act, outcome, O.none)
  }

  const unknowable: Omit<Inspection, 'key' | 'held'> = {
    remainingMs: E.left(unsupported('memcached', 'remainingMs', "memcached's binary protocol cannot read an item's remaining TTL")),
    fence: E.left(unsupported('memcached', 'fence', "a GET cannot tell whether the item's CAS is the one its holder's last write was answered with")),
    waiters: E.left(unsupported('memcached', 'waiters', 'memcached keeps no queue: its waiters poll'))
  }

  return {
    name: 'memcached',
    checkKey: checkMemcachedKey(Math.min(options.maxKeySize ?? MAX_KEY_SIZE, MAX_KEY_SIZE)),
    checkTtl: checkMemcachedTtl(Math.min(options.maxExpirationSeconds ?? MAX_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS)),
    acquire: (key, token, ttlMs) => async () => {
      const sent = await driver.send(addRequest(key, token, expirySeconds(ttlMs)))()
      if (E.isLeft(sent)) return E.left(failure(key, sent.left))
      const added = decodeAdd(key)(sent.right)
      return E.isRight(added) && O.isSome(added.right)
        ? E.right(O.some(grant(ttlMs, added.right.value, sent.right.connection)))
        : (added as E.Either<LockError, O.Option<never>>)
    },
    release,
    extend,
    inspect: (key) => async () => {
      const got = await driver.send(getRequest(key))()
      if (E.isLeft(got)) return E.left(failure(key, got.left))
      const item = decodeGet(key)(got.right)
      return E.isLeft(item) ? item : E.right({ key, held: O.isSome(item.right), ...unknowable })
    }
  }
}
