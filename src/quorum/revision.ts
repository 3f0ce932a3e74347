/**
 * A quorum lease's `revision`: its fence and each node's own revision (a
 * node may need it to release or extend, e.g. a memcached CAS), in one string.
 *
 * @since 0.1.0
 */

/**
 * The parts of a quorum revision. `nodes[i]` is node `i`'s revision, or `null`
 * when node `i` is not known to hold the key for this lease.
 *
 * @example
 * import { QuorumRevision } from 'leaselock'
 * const revision: QuorumRevision = { fence: 12n, nodes: ['7', null, '9'] }
 *
 * @since 0.1.0
 */
export interface QuorumRevision {
  readonly fence: bigint
  readonly nodes: ReadonlyArray<string | null>
}

/**
 * `[fence, node revisions…]` as JSON.
 *
 * @example
 * import { encodeRevision } from 'leaselock'
 * assert.strictEqual(encodeRevision({ fence: 12n, nodes: ['7', null] }), '["12","7",null]')
 *
 * @since 0.1.0
 */
export const encodeRevision = (revision: QuorumRevision): string => JSON.stringify([String(revision.fence), ...revision.nodes])

const FENCE = /^(0|[1-9][0-9]*)$/

/**
 * Reads a revision made by {@link encodeRevision} for `n` nodes. Anything else
 * (e.g. the empty revision the lock core gives back an unknown attempt with)
 * reads as fence `0n` and no node revisions: the nodes then act by token alone.
 *
 * @example
 * import { decodeRevision } from 'leaselock'
 * assert.deepStrictEqual(decodeRevision('["12","7",null]', 2), { fence: 12n, nodes: ['7', null] })
 * assert.deepStrictEqual(decodeRevision('', 2), { fence: 0n, nodes: [null, null] })
 *
 * @since 0.1.0
 */
export const decodeRevision = (revision: string, n: number): QuorumRevision => {
  const unknown: QuorumRevision = { fence: 0n, nodes: Array.from({ length: n }, () => null) }
  let parsed: unknown
  try {
    parsed = JSON.parse(revision)
  } catch {
    return unknown
  }
  if (!Array.isArray(parsed) || parsed.length !== n + 1) return unknown
  const [fence, ...nodes] = parsed as ReadonlyArray<unknown>
  return typeof fence === 'string' && FENCE.test(fence) && nodes.every((r) => r === null || typeof r === 'string')
    ? { fence: BigInt(fence), nodes: nodes as ReadonlyArray<string | null> }
    : unknown
}
