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
 * Why Memcached has no semaphores or read-write locks (yet). Permits on one
 * item (a CAS-updated list of holders) need each permit to expire alone, so
 * every client must judge "has this permit expired?" on one clock. Memcached
 * expires whole items only, and tells its clock only through `stats` (whole
 * seconds, in a request apart from the CAS write, and per server). A safe
 * scheme on that reading — expiries recorded in server seconds, judged a
 * second late, validity counted from the reading — is possible but not built;
 * client clocks are not safe (a client whose clock runs ahead would free
 * others' permits early).
 *
 * @example
 * import { MEMCACHED_PERMITS_WHY } from 'leaselock/memcached'
 * assert.match(MEMCACHED_PERMITS_WHY, /clock/)
 *
 * @since 0.4.0
 */
export const MEMCACHED_PERMITS_WHY =
  'per-permit expiry must be judged on a clock all clients share; memcached expires whole items only and tells its clock only through `stats` (whole seconds, apart from the CAS write), on which no safe scheme is built yet; client clocks are not safe'

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
