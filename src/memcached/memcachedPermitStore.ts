/**
 * Memcached and permits: refused, with the reason.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { unsupported } from '../Inspection.js'
import type { LockError } from '../LockError.js'
import type { PermitStore } from '../permits/PermitStore.js'

/**
 * Why Memcached has no semaphores or read-write locks (yet). Each permit must
 * expire alone, judged on one clock all clients share — never a client's (a
 * client whose clock runs ahead would free others' permits early). Memcached
 * offers no clock a CAS write can be judged against: it shows its time only
 * through `stats` (whole seconds, in a request apart from the write). What it
 * does judge on its own clock is item expiry, so a safe version keeps one item
 * per permit (the server expires it), a CAS-updated item listing the holders
 * and the waiters, and a fence from the CAS counter — several round trips per
 * admission and a membership check on every extend (a re-sent `ADD` can
 * revive a lapsed permit's item). It is not built in this version.
 *
 * @example
 * import { MEMCACHED_PERMITS_WHY } from 'leaselock/memcached'
 * assert.match(MEMCACHED_PERMITS_WHY, /clock/)
 *
 * @since 0.4.0
 */
export const MEMCACHED_PERMITS_WHY =
  'each permit must expire alone, judged on a clock all clients share; memcached has no clock a CAS write can be judged against (its time shows only in `stats`, in whole seconds, apart from the write) and client clocks are not safe; a version with one server-expired item per permit is possible but not built yet'

/**
 * A permit store for Memcached that refuses every call with `Unsupported`
 * (code `UNSUPPORTED`, `what: 'permits'`; see {@link MEMCACHED_PERMITS_WHY}),
 * sending nothing, so code written for semaphores learns it at once rather
 * than by a silent breach.
 *
 * @example
 * import { makeSemaphore } from 'leaselock'
 * import { memcachedPermitStore } from 'leaselock/memcached'
 *
 * const semaphore = makeSemaphore(memcachedPermitStore())
 * const r = await semaphore.tryAcquire('api', 3, 10_000)()
 * assert.ok(r._tag === 'Left' && r.left._tag === 'Unsupported')
 *
 * @since 0.4.0
 */
export const memcachedPermitStore = (): PermitStore => {
  const refused: E.Either<LockError, never> = E.left(unsupported('memcached', 'permits', MEMCACHED_PERMITS_WHY))
  const refuse = () => () => Promise.resolve(refused)
  return { name: 'memcached', checkKey: () => refused, checkTtl: E.right, acquire: refuse, release: refuse, extend: refuse }
}
