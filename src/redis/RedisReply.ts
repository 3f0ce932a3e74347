/**
 * Redis replies as plain values, and decoders that turn any reply — including
 * ones no well-behaved server sends — into an `Either`, never a throw.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'

/**
 * What a Redis driver answers, in either protocol version (RESP2 or RESP3):
 * bulk and simple strings as `string`, integers as `number` (or `bigint`), nil
 * as `null`, arrays as arrays, and an error reply (`-ERR …`, `-NOSCRIPT …`) as
 * an `Error` whose message is the server's text. A transport failure is not a
 * reply: a driver reports it as a `DriverError`.
 *
 * @example
 * import type { RedisReply } from 'leaselock/redis'
 * const replies: ReadonlyArray<RedisReply> = ['OK', 1, null, ['a', 2], new Error('NOSCRIPT No matching script')]
 *
 * @since 0.1.0
 */
export type RedisReply = string | number | bigint | null | ReadonlyArray<RedisReply> | Error

/**
 * A client library's reply as a {@link RedisReply}: RESP3 maps, sets and
 * objects flattened the way RESP2 sends them, booleans as `1`/nil, buffers as
 * UTF-8 text, `undefined` as nil; an error reply stays an `Error`. What the
 * Redis adapters answer, whichever client and protocol version.
 *
 * @example
 * import { fromClientReply } from 'leaselock/redis'
 * assert.deepStrictEqual(fromClientReply(new Map([['a', 1]])), ['a', 1])
 * assert.deepStrictEqual(fromClientReply([Buffer.from('x'), true, undefined]), ['x', 1, null])
 *
 * @since 0.3.0
 */
export const fromClientReply = (u: unknown): RedisReply => {
  if (u === null || typeof u === 'string' || typeof u === 'number' || typeof u === 'bigint' || u instanceof Error) return u
  if (u === undefined) return null
  if (typeof u === 'boolean') return u ? 1 : null
  if (Buffer.isBuffer(u)) return u.toString('utf8')
  if (Array.isArray(u)) return u.map(fromClientReply)
  if (u instanceof Map) return [...u].flatMap(([k, v]) => [fromClientReply(k), fromClientReply(v)])
  if (u instanceof Set) return [...u].map(fromClientReply)
  if (typeof u === 'object') return Object.entries(u).flatMap(([k, v]) => [k, fromClientReply(v)])
  return String(u)
}

/**
 * Why a reply could not be decoded: the server answered with an error, or with
 * something the command cannot return.
 *
 * @example
 * import { decodeFlag, ReplyError } from 'leaselock/redis'
 * const why = (e: ReplyError): string => (e._tag === 'ErrorReply' ? e.error.message : `expected ${e.expected}`)
 * const r = decodeFlag('OK')
 * assert.ok(r._tag === 'Left' && why(r.left) === 'expected 0 or 1')
 *
 * @since 0.1.0
 */
export type ReplyError =
  | { readonly _tag: 'ErrorReply'; readonly error: Error }
  | { readonly _tag: 'UnexpectedReply'; readonly expected: string; readonly reply: unknown }

const show = (reply: unknown): string => {
  if (typeof reply === 'string') return JSON.stringify(reply.length > 40 ? `${reply.slice(0, 40)}…` : reply)
  if (typeof reply === 'bigint') return `${reply}n`
  if (Array.isArray(reply)) return `an array of ${reply.length}`
  if (reply instanceof Error) return `error ${JSON.stringify(reply.message)}`
  if (typeof reply === 'object' && reply !== null) return Object.prototype.toString.call(reply)
  return String(reply)
}

/**
 * The `Error` to carry as the cause of a failure decoded from a reply.
 *
 * @example
 * import { replyErrorCause } from 'leaselock/redis'
 * replyErrorCause({ _tag: 'UnexpectedReply', expected: '0 or 1', reply: 'OK' }).message
 * // 'unexpected Redis reply: expected 0 or 1, got "OK"'
 *
 * @since 0.1.0
 */
export const replyErrorCause = (e: ReplyError): Error =>
  e._tag === 'ErrorReply' ? e.error : new Error(`unexpected Redis reply: expected ${e.expected}, got ${show(e.reply)}`)

/**
 * Whether a reply (or a driver's failure cause) is the `NOSCRIPT` error that
 * `EVALSHA` answers when the server does not have the script cached.
 *
 * @example
 * import { isNoScript } from 'leaselock/redis'
 * assert.ok(isNoScript(new Error('NOSCRIPT No matching script. Please use EVAL.')))
 * assert.ok(!isNoScript('OK'))
 *
 * @since 0.1.0
 */
export const isNoScript = (u: unknown): boolean => u instanceof Error && u.message.startsWith('NOSCRIPT')

const errorCode = (u: unknown): string | undefined => (u instanceof Error ? /^[A-Z]+/.exec(u.message)?.[0] : undefined)

const TRY_AGAIN = new Set(['TRYAGAIN', 'CLUSTERDOWN'])

/**
 * Whether a reply (or a driver's failure cause) says the cluster cannot serve
 * the key's slot right now, so the command did not run and the same command
 * may succeed a moment later: `TRYAGAIN` (a multi-key command on a slot being
 * migrated) or `CLUSTERDOWN` (a slot without a reachable master).
 *
 * @example
 * import { isTryAgain } from 'leaselock/redis'
 * assert.ok(isTryAgain(new Error('TRYAGAIN Multiple keys request during rehashing of slot')))
 * assert.ok(isTryAgain(new Error('CLUSTERDOWN The cluster is down')))
 * assert.ok(!isTryAgain(new Error('ERR unknown command')))
 *
 * @since 0.1.0
 */
export const isTryAgain = (u: unknown): boolean => TRY_AGAIN.has(errorCode(u) ?? '')

const REFUSALS = new Set([...TRY_AGAIN, 'MOVED', 'ASK', 'READONLY', 'LOADING', 'MASTERDOWN', 'BUSY', 'NOSCRIPT'])

/**
 * Whether an error reply says the server refused to run the command, so none
 * of its writes happened: the {@link isTryAgain} replies, a cluster redirection
 * (`MOVED`, `ASK`), a replica refusing writes (`READONLY`: a lock script's
 * first write fails, and it writes nothing before it), a server still loading
 * (`LOADING`), a replica cut from its master (`MASTERDOWN`), a server busy with
 * a script (`BUSY`), an unknown script (`NOSCRIPT`).
 *
 * @example
 * import { isRefusal } from 'leaselock/redis'
 * assert.ok(isRefusal(new Error('READONLY You can\'t write against a read only replica.')))
 * assert.ok(!isRefusal(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')))
 *
 * @since 0.1.0
 */
export const isRefusal = (u: unknown): boolean => REFUSALS.has(errorCode(u) ?? '')

const unexpected = (expected: string, reply: unknown): ReplyError => ({ _tag: 'UnexpectedReply', expected, reply })

const DIGITS = /^[1-9][0-9]{0,18}$/

/**
 * Decodes the acquire script's reply: nil means the key is held (`none`); a
 * positive integer (as a decimal string or a number) is the fencing token.
 *
 * @example
 * import { decodeFence } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(decodeFence('42'), E.right(O.some(42n)))
 * assert.deepStrictEqual(decodeFence(null), E.right(O.none))
 * assert.ok(E.isLeft(decodeFence('OK')))
 *
 * @since 0.1.0
 */
export const decodeFence = (reply: unknown): E.Either<ReplyError, O.Option<bigint>> => {
  if (reply === null) return E.right(O.none)
  if (reply instanceof Error) return E.left({ _tag: 'ErrorReply', error: reply })
  if (typeof reply === 'string' && DIGITS.test(reply)) return E.right(O.some(BigInt(reply)))
  if (typeof reply === 'number' && Number.isSafeInteger(reply) && reply > 0) return E.right(O.some(BigInt(reply)))
  if (typeof reply === 'bigint' && reply > 0n) return E.right(O.some(reply))
  return E.left(unexpected('nil or a positive integer', reply))
}

/**
 * Decodes a `0`/`1` integer reply (the release and extend scripts) into a boolean.
 *
 * @example
 * import { decodeFlag } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(decodeFlag(1), E.right(true))
 * assert.deepStrictEqual(decodeFlag(0n), E.right(false))
 * assert.ok(E.isLeft(decodeFlag(null)))
 *
 * @since 0.1.0
 */
export const decodeFlag = (reply: unknown): E.Either<ReplyError, boolean> => {
  if (reply instanceof Error) return E.left({ _tag: 'ErrorReply', error: reply })
  if (reply === 1 || reply === 1n) return E.right(true)
  if (reply === 0 || reply === 0n) return E.right(false)
  return E.left(unexpected('0 or 1', reply))
}

/**
 * A wait-queue script's answer: whether the key is ours now, and the fencing
 * counter (our fence when granted; the counter as it stood when waiting).
 *
 * @example
 * import type { QueueReply } from 'leaselock/redis'
 * const waiting: QueueReply = { granted: false, fence: 41n }
 *
 * @since 0.2.0
 */
export interface QueueReply {
  readonly granted: boolean
  readonly fence: bigint
  /** With `granted: false`, the holder's remaining TTL in ms (`PTTL`; -1: the key has none). */
  readonly holderMs?: number
}

const COUNTER = /^(0|[1-9][0-9]{0,18})$/

const isIntegerFrom = (u: unknown, min: number): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= min

const counterOf = (u: unknown): bigint | undefined =>
  typeof u === 'string' && COUNTER.test(u)
    ? BigInt(u)
    : typeof u === 'number' && Number.isSafeInteger(u) && u >= 0
      ? BigInt(u)
      : typeof u === 'bigint' && u >= 0n
        ? u
        : undefined

/**
 * Decodes the wait-queue scripts' `{1, fence}` / `{0, counter, pttl}`
 * replies (a `{0, counter}` without the holder's TTL too); a grant's fence
 * must be positive.
 *
 * @example
 * import { decodeQueueReply } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(decodeQueueReply([1, '42']), E.right({ granted: true, fence: 42n }))
 * assert.deepStrictEqual(decodeQueueReply([0, '41', 2_500]), E.right({ granted: false, fence: 41n, holderMs: 2_500 }))
 * assert.deepStrictEqual(decodeQueueReply([0, '0']), E.right({ granted: false, fence: 0n }))
 * assert.ok(E.isLeft(decodeQueueReply([1, '0'])))
 * assert.ok(E.isLeft(decodeQueueReply(null)))
 *
 * @since 0.2.0
 */
export const decodeQueueReply = (reply: unknown): E.Either<ReplyError, QueueReply> => {
  if (reply instanceof Error) return E.left({ _tag: 'ErrorReply', error: reply })
  if (Array.isArray(reply) && reply.length === 2) {
    const flag = reply[0] === 1 || reply[0] === 1n ? true : reply[0] === 0 || reply[0] === 0n ? false : undefined
    const fence = counterOf(reply[1])
    if (flag !== undefined && fence !== undefined && (fence > 0n || !flag)) return E.right({ granted: flag, fence })
  }
  if (Array.isArray(reply) && reply.length === 3 && (reply[0] === 0 || reply[0] === 0n)) {
    const fence = counterOf(reply[1])
    const pttl = typeof reply[2] === 'bigint' ? Number(reply[2]) : reply[2]
    if (fence !== undefined && isIntegerFrom(pttl, -1)) return E.right({ granted: false, fence, holderMs: pttl })
  }
  return E.left(unexpected('{1, fence} or {0, counter, pttl}', reply))
}

/**
 * The inspect script's answer: the key's `PTTL` (-2: no such key, -1: no
 * TTL), its fencing counter, and how many live waiters queue for it.
 *
 * @example
 * import type { InspectReply } from 'leaselock/redis'
 * const free: InspectReply = { pttl: -2, fence: 7n, waiters: 0 }
 *
 * @since 0.3.0
 */
export interface InspectReply {
  readonly pttl: number
  readonly fence: bigint
  readonly waiters: number
}

/**
 * Decodes the inspect script's `{pttl, counter, waiters}` reply.
 *
 * @example
 * import { decodeInspectReply } from 'leaselock/redis'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.deepStrictEqual(decodeInspectReply([2_500, '3', 1]), E.right({ pttl: 2_500, fence: 3n, waiters: 1 }))
 * assert.deepStrictEqual(decodeInspectReply([-2, '0', 0]), E.right({ pttl: -2, fence: 0n, waiters: 0 }))
 * assert.ok(E.isLeft(decodeInspectReply([-3, '0', 0])))
 *
 * @since 0.3.0
 */
export const decodeInspectReply = (reply: unknown): E.Either<ReplyError, InspectReply> => {
  if (reply instanceof Error) return E.left({ _tag: 'ErrorReply', error: reply })
  if (Array.isArray(reply) && reply.length === 3) {
    const [pttl, counter, waiters] = reply as ReadonlyArray<unknown>
    const fence = counterOf(counter)
    if (isIntegerFrom(pttl, -2) && fence !== undefined && isIntegerFrom(waiters, 0)) return E.right({ pttl, fence, waiters })
  }
  return E.left(unexpected('{pttl, counter, waiters}', reply))
}
