/**
 * Counting the answers of a quorum's nodes: each node's vote, the tally, the
 * rules that turn a tally into a decision, and collecting answers until the
 * rule decides (without waiting for nodes whose answer cannot change it).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { LockError, driverFailure } from '../LockError.js'

/**
 * One node's answer so far: none yet, yes (with what it answered), no, or a failure.
 *
 * @example
 * import { Vote } from 'leaselock'
 * const votes: ReadonlyArray<Vote<number>> = [{ _tag: 'Yes', value: 1 }, { _tag: 'No' }, { _tag: 'Pending' }]
 *
 * @since 0.1.0
 */
export type Vote<A> =
  | { readonly _tag: 'Pending' }
  | { readonly _tag: 'Yes'; readonly value: A }
  | { readonly _tag: 'No' }
  | { readonly _tag: 'Failed'; readonly error: LockError }

/**
 * How many nodes voted each way.
 *
 * @example
 * import { Tally } from 'leaselock'
 * const split: Tally = { yes: 1, no: 1, failed: 1, pending: 0 }
 *
 * @since 0.1.0
 */
export interface Tally {
  readonly yes: number
  readonly no: number
  readonly failed: number
  readonly pending: number
}

/**
 * What a quorum operation concluded: `yes` and `no` each had the majority the
 * rule asks for, `noQuorum` when the answers cannot show either.
 *
 * @example
 * import { Decision } from 'leaselock'
 * const held: Decision = 'no'
 *
 * @since 0.1.0
 */
export type Decision = 'yes' | 'no' | 'noQuorum'

/**
 * The majority of `n` nodes: ⌊n/2⌋ + 1. With an even `n` it tolerates no more
 * failed nodes than `n − 1` would (4 nodes need 3, like 5 need 3).
 *
 * @example
 * import { majority } from 'leaselock'
 * assert.deepStrictEqual([1, 2, 3, 4, 5].map(majority), [1, 2, 2, 3, 3])
 *
 * @since 0.1.0
 */
export const majority = (n: number): number => Math.floor(n / 2) + 1

/**
 * Counts the votes.
 *
 * @example
 * import { tally } from 'leaselock'
 * assert.deepStrictEqual(tally([{ _tag: 'Yes', value: 1 }, { _tag: 'Pending' }]), { yes: 1, no: 0, failed: 0, pending: 1 })
 *
 * @since 0.1.0
 */
export const tally = (votes: ReadonlyArray<Vote<unknown>>): Tally => {
  let yes = 0
  let no = 0
  let failed = 0
  let pending = 0
  for (const v of votes) {
    if (v._tag === 'Yes') yes++
    else if (v._tag === 'No') no++
    else if (v._tag === 'Failed') failed++
    else pending++
  }
  return { yes, no, failed, pending }
}

/**
 * The acquire rule over `q` of the nodes: `yes` once `q` granted; once that
 * can no longer happen, `no` (the key is held, or votes split between
 * contenders: try again) if at least `q` nodes answered, `noQuorum` if fewer
 * can. `undefined` while pending answers could still change the outcome.
 *
 * @example
 * import { decideAcquire } from 'leaselock'
 * assert.strictEqual(decideAcquire({ yes: 1, no: 1, failed: 0, pending: 1 }, 2), undefined)
 * assert.strictEqual(decideAcquire({ yes: 1, no: 1, failed: 1, pending: 0 }, 2), 'no')
 * assert.strictEqual(decideAcquire({ yes: 1, no: 0, failed: 2, pending: 0 }, 2), 'noQuorum')
 *
 * @since 0.1.0
 */
export const decideAcquire = (t: Tally, q: number): Decision | undefined => {
  if (t.yes >= q) return 'yes'
  if (t.yes + t.pending >= q) return undefined
  const answered = t.yes + t.no
  return answered >= q ? 'no' : answered + t.pending < q ? 'noQuorum' : undefined
}

/**
 * The rule of release and extend over `q` of the nodes: `yes` once `q`
 * confirmed; `no` once so many nodes said "not ours" that `q` confirmations
 * are impossible even if every failed node had confirmed; otherwise, when
 * every node has answered, `noQuorum`.
 *
 * @example
 * import { decideConfirm } from 'leaselock'
 * assert.strictEqual(decideConfirm({ yes: 0, no: 2, failed: 0, pending: 1 }, 2), 'no')
 * assert.strictEqual(decideConfirm({ yes: 1, no: 1, failed: 1, pending: 0 }, 2), 'noQuorum')
 *
 * @since 0.1.0
 */
export const decideConfirm = (t: Tally, q: number): Decision | undefined =>
  t.yes >= q ? 'yes' : t.yes + t.failed + t.pending < q ? 'no' : t.pending === 0 ? 'noQuorum' : undefined

/**
 * The rule of a counter round over `q` of the nodes: `yes` once `q` answered,
 * `noQuorum` once that is impossible.
 *
 * @example
 * import { decideAnswered } from 'leaselock'
 * assert.strictEqual(decideAnswered({ yes: 2, no: 0, failed: 0, pending: 1 }, 2), 'yes')
 * assert.strictEqual(decideAnswered({ yes: 1, no: 0, failed: 1, pending: 1 }, 2), undefined)
 *
 * @since 0.1.0
 */
export const decideAnswered = (t: Tally, q: number): Decision | undefined =>
  t.yes >= q ? 'yes' : t.yes + t.pending < q ? 'noQuorum' : undefined

/**
 * Runs a node's call and turns its answer into a vote. The vote never
 * rejects: a store that throws or rejects instead of answering a `Left` counts
 * as a failed node whose outcome is unknown.
 *
 * @example
 * import { ask } from 'leaselock'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * const vote = await ask('k', TE.right(true), (released) => (released ? { _tag: 'Yes', value: undefined } : { _tag: 'No' }))
 * assert.strictEqual(vote._tag, 'Yes')
 *
 * @since 0.1.0
 */
export const ask = <A, B>(key: string, call: () => Promise<E.Either<LockError, A>>, toVote: (a: A) => Vote<B>): Promise<Vote<B>> => {
  const failed = (cause: unknown): Vote<B> => ({ _tag: 'Failed', error: driverFailure(key, cause, true) })
  let running: Promise<E.Either<LockError, A>>
  try {
    running = call()
  } catch (cause) {
    return Promise.resolve(failed(cause))
  }
  return running.then((r) => (E.isLeft(r) ? { _tag: 'Failed', error: r.left } : toVote(r.right)), failed)
}

/**
 * The votes at the moment a rule decided, and its decision.
 *
 * @example
 * import { Gathered } from 'leaselock'
 * const none: Gathered<number> = { decision: 'noQuorum', votes: [] }
 *
 * @since 0.1.0
 */
export interface Gathered<A> {
  readonly decision: Decision
  readonly votes: ReadonlyArray<Vote<A>>
}

/**
 * Collects votes as they arrive and resolves as soon as `decide` decides,
 * with a copy of the votes at that moment; later votes change nothing here.
 * `decide` must decide once no vote is pending (every rule above does).
 *
 * @example
 * import { gather, decideAnswered } from 'leaselock'
 * const never = new Promise<never>(() => undefined)
 * const yes = Promise.resolve({ _tag: 'Yes' as const, value: 1 })
 * const { decision, votes } = await gather([yes, yes, never], (t) => decideAnswered(t, 2))
 * assert.strictEqual(decision, 'yes')
 * assert.strictEqual(votes[2]?._tag, 'Pending')
 *
 * @since 0.1.0
 */
export const gather = <A>(
  answers: ReadonlyArray<Promise<Vote<A>>>,
  decide: (t: Tally) => Decision | undefined
): Promise<Gathered<A>> =>
  new Promise((resolve) => {
    const votes: Array<Vote<A>> = answers.map(() => ({ _tag: 'Pending' }))
    let decided = false
    answers.forEach((answer, i) => {
      void answer.then((vote) => {
        if (decided) return
        votes[i] = vote
        const decision = decide(tally(votes))
        if (decision === undefined) return
        decided = true
        resolve({ decision, votes: [...votes] })
      })
    })
  })
