/**
 * The adversarial model of `model.ts` for permit stores: a memory permit
 * store's clients with a hostile network in the way (delayed, reordered,
 * lost and repeated requests and replies; stalls).
 */
import type { ManualClock } from '../../src/Clock.js'
import type { PermitStore } from '../../src/permits/PermitStore.js'
import type { MemoryPermitStore } from '../../adapters/memoryPermits.js'
import { Faults, Tape, hostileCalls } from './model.js'

/** One client's connection to the model permit server. */
export const hostilePermitStore = (
  base: MemoryPermitStore,
  clock: ManualClock,
  tape: Tape,
  faults: Faults,
  faulted: (token: string) => void = () => undefined,
  /** Whether this client is woken when permits are freed (else it only polls). */
  woken = false
): PermitStore => {
  const through = hostileCalls(clock, tape, faults, faulted)
  return {
    name: base.name,
    checkKey: base.checkKey,
    checkTtl: base.checkTtl,
    acquire: (request) => through(request.key, request.token, () => base.acquire(request)),
    release: (held) => through(held.key, held.token, () => base.release(held)),
    extend: (held, ttl) => through(held.key, held.token, () => base.extend(held, ttl)),
    ...(woken && base.wakeups !== undefined ? { wakeups: base.wakeups } : {})
  }
}
