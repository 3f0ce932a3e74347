/**
 * Waiting in a store's FIFO queue, and answering a handover without a round
 * trip only when it is provably ours.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Claims } from './Claims.js'
import { channels, publish } from './Diagnostics.js'
import type { Environment } from './Environment.js'
import { Lease, fromGrant } from './Lease.js'
import { LockError, driverFailure, notHeld } from './LockError.js'
import type { Queued, Store, WaitQueue } from './Store.js'
import { Tries, TryResult, leaseOf } from './Tries.js'

/**
 * What queued waiting needs from its lock.
 *
 * @example
 * import { QueuedWaitContext, makeClaims, liveEnvironment } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * const store = memoryStore()
 * const context: QueuedWaitContext = { env: liveEnvironment, store, queue: store.queue!, claims: makeClaims(liveEnvironment.clock) }
 *
 * @since 0.2.0
 */
export interface QueuedWaitContext {
  readonly env: Environment
  readonly store: Store
  readonly queue: WaitQueue
  readonly claims: Claims
}

/**
 * @example
 * import { QueuedWaitOptions } from 'leaselock'
 * const options: QueuedWaitOptions = { confirmed: true }
 *
 * @since 0.2.0
 */
export interface QueuedWaitOptions {
  /** Claim every handover before answering it (one more round trip; the lease then carries the full TTL). */
  readonly confirmed: boolean
}

/** A request that found the key held: when we sent it, and the fence counter it saw. */
interface Proof {
  readonly sentAt: number
  readonly seen: bigint
}

/**
 * Queued waiting for `key` until `deadline` (a clock reading): join the
 * queue once, wait to be handed the key, and poll as a safety net in case a
 * notification was lost or the holder expired: when the store's answer says
 * its notifications reach us (`recheckMs`), once per that interval (about
 * when the holder's lease ends, at most one claim TTL), not on the retry
 * policy's cadence; otherwise on the retry policy's cadence. Either way each
 * wait ends by the deadline.
 *
 * The rules, each a defence against a notification that is late, lost,
 * repeated or reordered, or a process that stalls:
 *
 * 1. **A handover counts only from a request that provably precedes it.** A
 *    handover increments the key's fence counter, and every request that
 *    finds the key held reports the counter it saw. A handover with fence
 *    `f` happened after every request that saw less than `f` was sent, so the
 *    key is provably ours from the latest such send time (the proof) until
 *    the proof plus the claim TTL the store applied (carried in the
 *    notification; the store applies the claim TTL our own queue entry asked
 *    for). A notification whose fence is not above what our first request
 *    saw is stale and ignored.
 * 2. **Early answer only with half the window left.** When at least half of
 *    `min(claim TTL, TTL)` remains provable, the lease is answered at once
 *    with exactly that validity, and the claim (an extend to the TTL) runs in
 *    the background; its outcome is the lock's `confirm(lease)`, and later
 *    operations on the lease wait for it. Otherwise (or with `confirmed`),
 *    the waiter polls instead: a poll claims a key handed to us and answers
 *    its true fence, takes a free key, or finds the key held by another and
 *    puts us back at the head of the queue (our handover lapsed unclaimed).
 * 3. **A grant spent on arrival is no lease**: it is given back, and the
 *    waiter goes on with a fresh token (the give-back may land after a later
 *    grant, which must not be the one it deletes); the next poll queues it
 *    again.
 * 4. **Giving up is last**: `abandon` leaves the queue with the token of our
 *    entry, and the acquire loop calls it only after every request of ours
 *    has settled, so no entry outlives the wait.
 *
 * @example
 * import { queuedTries, makeClaims, liveEnvironment } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const store = memoryStore()
 * const tries = queuedTries({ env: liveEnvironment, store, queue: store.queue!, claims: makeClaims(liveEnvironment.clock) }, 'k', 1_000, performance.now() + 1_000, { confirmed: false })
 * const first = await tries.first()
 * assert.ok(first._tag === 'Right' && first.right._tag === 'Some')
 *
 * @since 0.2.0
 */
export const queuedTries = (context: QueuedWaitContext, key: string, ttlMs: number, deadline: number, options: QueuedWaitOptions): Tries => {
  const { env, store, queue, claims } = context
  const { clock } = env
  let token = env.token()
  const proofs: Array<Proof> = []
  /** The fence counter our first request saw: every handover to our entry is above it. */
  let after: bigint | undefined
  let joined = false
  /** When the store's safety-net poll is due (its notifications reach us meanwhile); `undefined`: poll on the retry policy. */
  let recheckAt: number | undefined

  const waitMs = (): number => Math.max(1, Math.ceil(deadline - clock.now()))

  /** Sends a queued request and turns its answer into a try's result. */
  const send = async (sent: string, run: TE.TaskEither<LockError, Queued>): Promise<TryResult> => {
    const sentAt = clock.now()
    const reply = await run()
    if (E.isLeft(reply)) return reply
    if (reply.right._tag === 'Waiting') {
      proofs.push({ sentAt, seen: reply.right.seen })
      after ??= reply.right.seen
      recheckAt = reply.right.recheckMs === undefined ? undefined : clock.now() + reply.right.recheckMs
      return E.right(O.none)
    }
    const lease = leaseOf(key, sent, ttlMs, sentAt, reply.right.grant, clock.now())
    if (O.isNone(lease)) {
      publish(channels.giveback, () => ({ key, backend: store.name, reason: 'spent' }))
      void store.release({ key, token: sent, revision: reply.right.grant.revision })()
      // The give-back may land late: a later grant must not carry the token it deletes.
      token = env.token()
    }
    return E.right(lease)
  }

  /** The latest send time of a request that saw less than `fence`, if any. */
  const proofOf = (fence: bigint): number | undefined => {
    let best: number | undefined
    for (const p of proofs) if (p.seen < fence && (best === undefined || p.sentAt > best)) best = p.sentAt
    return best
  }

  const poll = (): Promise<TryResult> => send(token, queue.poll(key, token, ttlMs, waitMs()))

  /** A poll after a handover: the key is claimed (or found gone) before answering. */
  const claimByPoll = async (): Promise<TryResult> => {
    const r = await poll()
    if (E.isRight(r) && O.isSome(r.right)) {
      const fence = r.right.value.fence
      publish(channels.handoff, () => ({ key, backend: store.name, fence, early: false }))
    }
    return r
  }

  /**
   * Extends a handed-over key to our TTL: the lease with the full validity and
   * the fence the store answers (the key may have lapsed and been taken again
   * for our token meanwhile, by a late request of ours), or why not.
   */
  const claim = async (early: Lease): Promise<E.Either<LockError, Lease>> => {
    const sentAt = clock.now()
    try {
      const r = await store.extend(early, ttlMs)()
      if (E.isLeft(r)) return r
      return O.isSome(r.right) ? E.right(fromGrant(key, token, ttlMs, sentAt, r.right.value)) : E.left(notHeld(key))
    } catch (e) {
      return E.left(driverFailure(key, e, true))
    }
  }

  return {
    first: () => {
      joined = true
      return send(token, queue.acquireOrEnqueue(key, token, ttlMs, waitMs()))
    },
    next: poll,
    wait: async (ms, signal) => {
      if (after === undefined) return clock.sleep(ms, signal).then(() => E.right(O.none))
      const patience = recheckAt === undefined ? ms : Math.max(1, Math.min(recheckAt, deadline) - clock.now())
      const handed = await queue.awaitHandoff(key, token, patience, after, signal)
      if (O.isNone(handed)) return E.right(O.none)
      // Aborted meanwhile: answer nothing; the loop's `abandon` passes the key on.
      if (signal?.aborted === true) return E.right(O.none)
      const proof = proofOf(handed.value.fence)
      if (proof === undefined) return claimByPoll()
      const window = Math.min(handed.value.validityMs, ttlMs)
      const early = fromGrant(key, token, ttlMs, proof, { ...handed.value, validityMs: window })
      if (options.confirmed || early.validUntil - clock.now() < window / 2) return claimByPoll()
      publish(channels.handoff, () => ({ key, backend: store.name, fence: early.fence, early: true }))
      claims.begin(early, claim(early))
      return E.right(O.some(early))
    },
    abandon: () => (joined ? queue.leave(key, token)().then(() => undefined) : Promise.resolve())
  }
}
