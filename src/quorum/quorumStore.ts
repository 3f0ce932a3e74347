/**
 * `quorumStore`: one lease over N independent stores, held only with a
 * majority of them (the Redlock algorithm), with validity counted the way the
 * algorithm demands and fencing tokens that grow across changing majorities.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Clock, realClock } from '../Clock.js'
import { driftMs } from '../Lease.js'
import { LockError, NodeOutcome, NoQuorum, invalidArgument, message, noQuorum } from '../LockError.js'
import type { Grant, Store } from '../Store.js'
import type { FenceCounter } from './FenceCounter.js'
import { decodeRevision, encodeRevision } from './revision.js'
import { Vote, ask, decideAcquire, decideAnswered, decideConfirm, gather, majority } from './votes.js'

/**
 * @example
 * import { QuorumOptions, VirtualClock } from 'leaselock'
 * const options: QuorumOptions = { clock: new VirtualClock(), fencing: false, drift: (ttlMs) => Math.ceil(ttlMs * 0.02) + 5 }
 *
 * @since 0.1.0
 */
export interface QuorumOptions {
  /** The clock validity is measured on: the lock's own ({@link realClock} by default). */
  readonly clock?: Clock
  /**
   * The clock drift allowed for a TTL, in ms: a lease is provably ours until
   * send time + the majority's validity − drift. Default {@link driftMs}
   * (1% of the TTL + 2 ms), which the lock core subtracts as well; a larger
   * allowance shortens the validity the quorum reports by the difference.
   */
  readonly drift?: (ttlMs: number) => number
  /**
   * `true`: every lease gets a fence from the nodes' counters (every node must
   * offer a `fenceCounter`); `false`: no fencing (every fence is `0n`), two
   * round trips fewer per acquisition. By default, on when every node offers
   * a `fenceCounter`.
   */
  readonly fencing?: boolean
}

/** What each vote means, per operation, in a `NoQuorum` message. */
interface Words {
  readonly yes: string
  readonly no: string
}
const ACQUIRE: Words = { yes: 'granted', no: 'held by another owner' }
const CONFIRM: Words = { yes: 'confirmed', no: 'not held by this lease' }
const COUNTER: Words = { yes: 'answered', no: 'refused' }

const causeText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const failure = (e: LockError): string =>
  e._tag === 'DriverFailure' ? `${e.indeterminate ? 'no answer, outcome unknown' : 'failed'} (${causeText(e.cause)})` : message(e)

const grantVote = (answer: O.Option<Grant>): Vote<Grant> => (O.isSome(answer) ? { _tag: 'Yes', value: answer.value } : { _tag: 'No' })
const confirmVote = (confirmed: boolean): Vote<undefined> => (confirmed ? { _tag: 'Yes', value: undefined } : { _tag: 'No' })
const counterVote = (value: bigint): Vote<bigint> => ({ _tag: 'Yes', value })

/** How long the key is ours on `q` of the granting nodes: the q-th longest validity among the grants. */
const majorityValidity = (votes: ReadonlyArray<Vote<Grant>>, q: number): number =>
  votes
    .flatMap((v) => (v._tag === 'Yes' ? [v.value.validityMs] : []))
    .sort((a, b) => b - a)[q - 1]!

/** Why these stores cannot form a quorum, if they cannot. */
const misconfiguration = (stores: ReadonlyArray<Store>, fencing: boolean | undefined): string | undefined => {
  if (!Array.isArray(stores) || stores.length === 0)
    return `quorumStore needs at least one store, got ${Array.isArray(stores) ? 0 : String(stores)}`
  const twice = stores.findIndex((s, i) => stores.indexOf(s) !== i)
  if (twice >= 0) return `quorumStore got the same store as node #${stores.indexOf(stores[twice]!) + 1} and #${twice + 1}: each node counts once`
  const uncounted = stores.findIndex((s) => s.fenceCounter === undefined)
  if (fencing === true && uncounted >= 0)
    return `quorum fencing needs a fenceCounter on every node, and node #${uncounted + 1} (${stores[uncounted]!.label ?? stores[uncounted]!.name}) has none (build Redis nodes with redisNode, or pass fencing: false)`
  return undefined
}

/** A store whose every operation fails with `problem`, before any I/O. */
const unusable = (problem: string): Store => {
  const e = invalidArgument(problem)
  const fail = (): TE.TaskEither<LockError, never> => () => Promise.resolve(E.left(e))
  return { name: 'quorum', checkKey: () => E.left(e), checkTtl: () => E.left(e), acquire: fail, release: fail, extend: fail }
}

/**
 * A store that holds a key only while a majority (⌊N/2⌋+1, see
 * {@link majority}) of `stores` — independent nodes: Redis primaries in
 * practice, memory stores in tests — hold it for the same token.
 *
 * - **acquire** goes to every node at once. It is decided as soon as the
 *   answers allow: a majority granted (a lease), or a majority can no longer
 *   grant — then `none` (held, or votes split between contenders: the lock
 *   retries) when a majority answered, or `NoQuorum` (code `NO_QUORUM`, its
 *   message says per node what happened) when fewer could. A lease is
 *   provably ours until the send time + the shortest validity among the
 *   majority's grants − drift (see {@link QuorumOptions}); if that moment has
 *   passed when the lease would be answered (slow nodes, the fence rounds), it
 *   is **not** a lease. Whenever an acquisition does not answer a lease, it
 *   releases — in the background, by its own token — on every node that
 *   granted or may have (a failed or unanswered node: after its answer comes).
 * - **Fencing** (on when every node has a `fenceCounter`): after a majority
 *   granted, read the counters of a majority, take the maximum + 1, and raise
 *   a majority's counters to it ("set if greater") before answering the lease
 *   with it. Every lease's fence is then strictly greater than the fences of
 *   all leases answered before it on that key, whichever majorities answered,
 *   provided no node loses a counter value it acknowledged (a majority that
 *   keeps its data is not enough when a node that lost its data was part of
 *   the last raise's majority and another node missed that raise). Costs two
 *   round trips per acquisition (to all nodes in parallel); `fencing: false`
 *   skips them and answers fence `0n`.
 * - **extend** needs a majority of nodes to extend (`none` once so many nodes
 *   said "not ours" that a majority is impossible; `NoQuorum` when the answers
 *   cannot tell); its validity follows the acquire rule, and an extension
 *   whose validity is spent on arrival is answered `none` (nothing is
 *   provable) but not released: the lease's token is still the caller's, and
 *   a release in the background could delete the caller's next extension.
 * - **release** goes to every node and answers `true` once a majority
 *   confirmed, `false` once the key is gone from so many nodes that a
 *   majority cannot have held it (the lease had lapsed), `NoQuorum` when the
 *   answers cannot tell.
 * - The calls of one lease reach each node in the order they were made: a
 *   call waits for that node's answer to the lease's previous call when it
 *   has not come yet (decisions do not wait for every node), so that no
 *   transport can let a late extension to a shorter TTL land after a longer
 *   one, or a release overtake the grant it releases.
 *
 * Nodes are named in messages by their `label` (else `<name> #<i>`). There is
 * no wait queue: FIFO handoff cannot span independent nodes (each would hand
 * the key to a different waiter), so waiters poll on the lock's jittered retry
 * policy. An even N tolerates no more failed nodes than N − 1 (4 nodes need 3),
 * and contenders can split the votes evenly: prefer an odd N. The same store
 * given twice, no store at all, or `fencing: true` over a node without a
 * counter make every operation fail with `InvalidArgument`.
 *
 * @example
 * import { makeLock, memoryFenceCounter, quorumStore } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const node = (label: string) => ({ ...memoryStore(), label, fenceCounter: memoryFenceCounter() })
 * const lock = makeLock(quorumStore([node('a'), node('b'), node('c')]))
 * const lease = await lock.acquire('jobs:nightly', 10_000, 1_000)()
 * assert.ok(lease._tag === 'Right' && lease.right.fence === 1n)
 *
 * @since 0.1.0
 */
export const quorumStore = (stores: ReadonlyArray<Store>, options: QuorumOptions = {}): Store => {
  const problem = misconfiguration(stores, options.fencing)
  if (problem !== undefined) return unusable(problem)
  const n = stores.length
  const q = majority(n)
  const clock = options.clock ?? realClock
  const drift = options.drift ?? driftMs
  const counters: ReadonlyArray<FenceCounter> = stores.flatMap((s) => (s.fenceCounter === undefined ? [] : [s.fenceCounter]))
  const fencing = options.fencing !== false && counters.length === n
  const labels = stores.map((s, i) => s.label ?? `${s.name} #${i + 1}`)
  /**
   * By token: per node, the latest call for that lease that may still be in
   * flight. Calls are decided by a majority, so the others can still be on
   * their way when the caller moves on; the next call of the same lease to
   * that node is sent only after it, so that no transport can reorder them (a
   * late extension to a short TTL landing after a longer one, a release
   * overtaking the grant it releases).
   */
  const inFlight = new Map<string, Array<Promise<unknown> | undefined>>()

  /** The allowance beyond the core's own drift, taken off the validity reported. */
  const extraDrift = (ttlMs: number): number => Math.max(0, drift(ttlMs) - driftMs(ttlMs))

  const outcomes = <A>(votes: ReadonlyArray<Vote<A>>, words: Words): ReadonlyArray<NodeOutcome> =>
    votes.map((v, i) => ({
      node: labels[i]!,
      outcome: v._tag === 'Yes' ? words.yes : v._tag === 'No' ? words.no : v._tag === 'Failed' ? failure(v.error) : 'no answer yet'
    }))

  const noMajority = <A>(key: string, operation: NoQuorum['operation'], votes: ReadonlyArray<Vote<A>>, words: Words): LockError =>
    noQuorum(key, operation, q, outcomes(votes, words))

  /** Sends a call of the lease `token` to node `i` once its previous call there has been answered. */
  const onNode = <A>(token: string, i: number, send: () => Promise<A>): Promise<A> => {
    const calls = inFlight.get(token) ?? Array.from({ length: n }, () => undefined)
    const previous = calls[i]
    const call = previous === undefined ? send() : previous.then(send)
    calls[i] = call
    inFlight.set(token, calls)
    void call.then(() => {
      if (calls[i] !== call) return
      calls[i] = undefined
      if (calls.every((c) => c === undefined) && inFlight.get(token) === calls) inFlight.delete(token)
    })
    return call
  }

  /** Releases, in the background, on every node that granted or may have, each after its answer. */
  const giveBack = (key: string, token: string, answers: ReadonlyArray<Promise<Vote<Grant>>>): void => {
    answers.forEach((answer, i) => {
      void answer.then((vote) =>
        vote._tag === 'No'
          ? undefined
          : onNode(token, i, () =>
              ask(key, () => stores[i]!.release({ key, token, revision: vote._tag === 'Yes' ? vote.value.revision : '' })(), confirmVote)
            )
      )
    })
  }

  /** One counter round: `raise(key, value)` on every node, answered by a majority. */
  const counterRound = async (key: string, value: bigint): Promise<E.Either<LockError, ReadonlyArray<bigint>>> => {
    const { decision, votes } = await gather(
      counters.map((c) => ask(key, () => c.raise(key, value)(), counterVote)),
      (t) => decideAnswered(t, q)
    )
    return decision === 'yes'
      ? E.right(votes.flatMap((v) => (v._tag === 'Yes' ? [v.value] : [])))
      : E.left(noMajority(key, 'fence', votes, COUNTER))
  }

  /** The "next id" construction: the maximum of a majority's counters + 1, raised on a majority. */
  const nextFence = async (key: string): Promise<E.Either<LockError, bigint>> => {
    const read = await counterRound(key, 0n)
    if (E.isLeft(read)) return read
    const next = read.right.reduce((a, b) => (b > a ? b : a), 0n) + 1n
    const raised = await counterRound(key, next)
    return E.isLeft(raised) ? raised : E.right(next)
  }

  const acquire: Store['acquire'] = (key, token, ttlMs) => async () => {
    const sentAt = clock.now()
    const answers = stores.map((s, i) => onNode(token, i, () => ask(key, () => s.acquire(key, token, ttlMs)(), grantVote)))
    const { decision, votes } = await gather(answers, (t) => decideAcquire(t, q))
    if (decision !== 'yes') {
      giveBack(key, token, answers)
      return decision === 'no' ? E.right(O.none) : E.left(noMajority(key, 'acquire', votes, ACQUIRE))
    }
    const fence = fencing ? await nextFence(key) : E.right(0n)
    const validityMs = majorityValidity(votes, q)
    if (E.isLeft(fence) || clock.now() >= sentAt + validityMs - drift(ttlMs)) {
      giveBack(key, token, answers)
      return E.isLeft(fence) ? fence : E.right(O.none)
    }
    const revision = encodeRevision({ fence: fence.right, nodes: votes.map((v) => (v._tag === 'Yes' ? v.value.revision : null)) })
    return E.right(O.some({ fence: fence.right, validityMs: validityMs - extraDrift(ttlMs), revision }))
  }

  const release: Store['release'] = (held) => async () => {
    const { key, token } = held
    const nodes = decodeRevision(held.revision, n).nodes
    const answers = stores.map((s, i) =>
      onNode(token, i, () => ask(key, () => s.release({ key, token, revision: nodes[i] ?? '' })(), confirmVote))
    )
    const { decision, votes } = await gather(answers, (t) => decideConfirm(t, q))
    return decision === 'noQuorum' ? E.left(noMajority(key, 'release', votes, CONFIRM)) : E.right(decision === 'yes')
  }

  const extend: Store['extend'] = (held, ttlMs) => async () => {
    const { key, token } = held
    const before = decodeRevision(held.revision, n)
    const sentAt = clock.now()
    const answers = stores.map((s, i) =>
      onNode(token, i, () => ask(key, () => s.extend({ key, token, revision: before.nodes[i] ?? '' }, ttlMs)(), grantVote))
    )
    const { decision, votes } = await gather(answers, (t) => decideConfirm(t, q))
    if (decision !== 'yes') return decision === 'no' ? E.right(O.none) : E.left(noMajority(key, 'extend', votes, CONFIRM))
    const revision = encodeRevision({
      fence: before.fence,
      nodes: votes.map((v, i) => (v._tag === 'Yes' ? v.value.revision : v._tag === 'No' ? null : (before.nodes[i] ?? null)))
    })
    const validityMs = majorityValidity(votes, q)
    // Spent: nothing is provable any more, but the key is not given back: its token is still the
    // caller's, and a release in the background could delete an extension the caller makes next.
    if (clock.now() >= sentAt + validityMs - drift(ttlMs)) return E.right(O.none)
    return E.right(O.some({ fence: before.fence, validityMs: validityMs - extraDrift(ttlMs), revision }))
  }

  /** The first of the nodes' verdicts on a value that is a Left, else the value. */
  const everyNode =
    <A>(check: (s: Store) => (a: A) => E.Either<LockError, A>) =>
    (a: A): E.Either<LockError, A> => {
      for (const s of stores) {
        const checked = check(s)(a)
        if (E.isLeft(checked)) return checked
      }
      return E.right(a)
    }

  return {
    name: `quorum(${stores.map((s) => s.name).join(',')})`,
    checkKey: everyNode((s) => s.checkKey),
    checkTtl: everyNode((s) => s.checkTtl),
    acquire,
    release,
    extend
  }
}
