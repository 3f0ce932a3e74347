/**
 * Steps for tests that drive the memory model by hand on a ManualClock:
 * event-loop turns, millisecond-by-millisecond time, lease checks.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type { ManualClock } from '../../src/Clock.js'
import type { Environment } from '../../src/Environment.js'
import type { Lease } from '../../src/Lease.js'
import type { LockError } from '../../src/LockError.js'
import type { MemoryStore } from '../../adapters/memory.js'

export const ticks = async (n = 10): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Advances in steps of 1 ms so every timer fires at its own time. */
export const advance = async (clock: ManualClock, ms: number): Promise<void> => {
  for (let i = 0; i < ms; i++) {
    await ticks(2)
    clock.advance(1)
  }
  await ticks(2)
}

export const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${r.left._tag}`)
  return r.right
}

/** An environment whose tokens are `<name>-0`, `<name>-1`, … */
export const envOf = (clock: ManualClock, name: string): Environment => {
  let n = 0
  return { clock, random: () => 0.5, token: () => `${name}-${n++}` }
}

/** A lease believed valid at `now` is the one the store holds (token and fence). */
export const backedBy = (server: MemoryStore, lease: Lease, now: number): boolean => {
  if (lease.validUntil <= now) return true
  const h = server.holder(lease.key)
  return O.isSome(h) && h.value.token === lease.token && h.value.fence === lease.fence
}
