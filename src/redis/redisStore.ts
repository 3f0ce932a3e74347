/**
 * Turns any Redis {@link Driver} into a {@link Store}: acquire with `SET NX PX`
 * plus a fencing counter, compare-and-delete release that hands the key to the
 * first waiter, compare-and-`PEXPIRE` extend, and (with pub/sub) a FIFO wait
 * queue — each operation one Lua script, run with `EVALSHA` and sent once with
 * `EVAL` when the server answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { Driver, DriverError } from '../Driver.js'
import { LockError, driverFailure, invalidArgument, notReplicated } from '../LockError.js'
import { Clock, realClock } from '../Clock.js'
import { randomToken } from '../Environment.js'
import { makeHandovers } from '../Handovers.js'
import type { Inspection } from '../Inspection.js'
import type { Grant, Queued, Store, WaitQueue } from '../Store.js'
import { DEFAULT_MAX_KEY_BYTES, checkRedisKey, fenceKey, queueKey, waitersKey } from './keys.js'
import {
  InspectReply,
  QueueReply,
  RedisReply,
  ReplyError,
  decodeFence,
  decodeFlag,
  decodeInspectReply,
  decodeQueueReply,
  isNoScript,
  isRefusal,
  replyErrorCause
} from './RedisReply.js'
import {
  Script,
  acquireOrEnqueueScript,
  acquireScript,
  evalCommand,
  evalShaCommand,
  extendScript,
  inspectScript,
  leaveScript,
  pollScript,
  releaseScript,
  shardedLeaveScript,
  shardedReleaseScript
} from './scripts.js'
import { slotChannel } from './slots.js'

/**
 * How a driver lets a store listen on a pub/sub channel: subscribes to
 * `channel` (the `Right` comes once the server confirmed the subscription) and
 * calls `onMessage` with each message's text from then on, until the driver's
 * connection is closed. Each call of the returned task is one subscription
 * attempt, with a deadline; a store calls it once per channel, again only after
 * a failure. A driver may keep one connection for all its subscriptions, and
 * resubscribe by itself after a reconnection (messages sent meanwhile are lost:
 * the store's waiters poll as a fallback).
 *
 * @example
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * import { RedisSubscribe } from 'leaselock/redis'
 * const deaf: RedisSubscribe = () => TE.right(undefined)
 *
 * @since 0.1.0
 */
export type RedisSubscribe = (channel: string, onMessage: (message: string) => void) => TE.TaskEither<DriverError, void>

/**
 * How a driver runs a command and, right behind it on the same connection,
 * `WAIT replicas timeoutMs`: it answers both replies (the command's, then
 * WAIT's: the number of replicas that acknowledged every write made so far
 * on that connection). Both must travel on one connection, because WAIT
 * counts the writes of its own connection only: a WAIT sent on another
 * connection (a reconnection in between, another node) acknowledges nothing
 * of ours, and would answer at once. The deadline is the driver's command
 * deadline plus `timeoutMs`.
 *
 * @example
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * import { RedisSendAndWait } from 'leaselock/redis'
 * const noReplicas: RedisSendAndWait = () => TE.right(['OK', 0])
 *
 * @since 0.1.0
 */
export type RedisSendAndWait = (
  command: ReadonlyArray<string>,
  replicas: number,
  timeoutMs: number
) => TE.TaskEither<DriverError, readonly [RedisReply, RedisReply]>

/**
 * A driver for Redis: sends one argument vector, answers one {@link RedisReply}.
 * An error reply from the server is a `Right` holding an `Error`; a `Left` is a
 * transport failure (with `indeterminate` telling whether the command may have
 * run). A driver that can also `subscribe` (see {@link RedisSubscribe};
 * `connectRedis` gives one) lets `redisStore` hand released keys straight to
 * waiters; without it, waiters poll.
 *
 * node-redis (`nodeRedisDriver`, `connectRedis`) and ioredis
 * (`leaselock/ioredis`) have drivers with deadlines and `subscribe`; any
 * other client fits in a few lines. With ioredis, minimally (no deadline):
 *
 * @example
 * import { Redis, ReplyError } from 'ioredis'
 * import * as E from 'fp-ts/lib/Either.js'
 * import { driverError, makeLock } from 'leaselock'
 * import { RedisDriver, RedisReply, redisStore } from 'leaselock/redis'
 *
 * const minimalDriver = (redis: Redis): RedisDriver => ({
 *   send: ([command, ...args]) => () =>
 *     redis.call(command ?? '', args).then(
 *       (reply) => E.right(reply as RedisReply),
 *       (e: unknown) => (e instanceof ReplyError ? E.right(e as Error) : E.left(driverError(e, true)))
 *     )
 * })
 * const redis = new Redis({ port: Number(process.env.REDIS_PORT ?? 6379) })
 * const lock = makeLock(redisStore(minimalDriver(redis)))
 * assert.strictEqual((await lock.tryAcquire('reports:daily', 1_000)())._tag, 'Right')
 * redis.disconnect()
 *
 * @since 0.1.0
 */
export interface RedisDriver extends Driver<ReadonlyArray<string>, RedisReply> {
  /** Pub/sub, for wake-on-release; optional. */
  readonly subscribe?: RedisSubscribe
  /**
   * Sharded pub/sub (`SSUBSCRIBE`), for wake-on-release on a Redis Cluster;
   * optional, and preferred to `subscribe` when both are there. A driver that
   * offers it promises that a channel named with a hash tag lives on the
   * master of that tag's slot: the store then wakes waiters with `SPUBLISH`
   * on a channel in the lock key's slot (see `slotChannel`), subscribing once
   * per slot its waiters wait in.
   */
  readonly sSubscribe?: RedisSubscribe
  /**
   * A command and `WAIT` on one connection (see {@link RedisSendAndWait}), for
   * `syncReplicas`; optional. Without it the store sends the two one after the
   * other with `send`, which is right only for a driver that sends every
   * command over one connection (a single client without reconnection).
   */
  readonly sendAndWait?: RedisSendAndWait
}

/**
 * The default claim TTL of a handed-over key, in ms (see {@link RedisStoreOptions}).
 *
 * @example
 * import { DEFAULT_CLAIM_MS } from 'leaselock/redis'
 * assert.strictEqual(DEFAULT_CLAIM_MS, 1000)
 *
 * @since 0.1.0
 */
export const DEFAULT_CLAIM_MS = 1_000

/**
 * @example
 * import { redisStore, RedisDriver } from 'leaselock/redis'
 * const shortKeys = (driver: RedisDriver) => redisStore(driver, { maxKeyBytes: 256, claimMs: 500 })
 *
 * @since 0.1.0
 */
export interface RedisStoreOptions {
  /** The longest lock key accepted, in UTF-8 bytes ({@link DEFAULT_MAX_KEY_BYTES} by default). */
  readonly maxKeyBytes?: number
  /**
   * How long a key handed to one of this store's waiters stays set to the
   * waiter's token until the waiter claims it with its own TTL, in ms
   * ({@link DEFAULT_CLAIM_MS} by default; a value that is not a positive
   * integer is replaced by the default). The waiter's queue entry carries it,
   * so the release script applies the waiter's value whoever releases, and
   * the notification echoes it. The trade-off: a waiter that died or hung
   * after joining the queue blocks the key for up to this long, while a waiter
   * too slow to claim in time (a notification delayed past it) loses the
   * handover; its next poll puts it back at the head of the queue.
   */
  readonly claimMs?: number
  /**
   * The pub/sub channel this store's waiters are woken on; a new
   * random `leaselock:wake:<id>` by default. One channel serves all waiters of
   * the store.
   */
  readonly channel?: string
  /** The clock `awaitHandoff` waits on ({@link realClock} by default). */
  readonly clock?: Clock
  /**
   * How many replicas must acknowledge each write that takes or keeps a key —
   * an acquire, an extend, a handover claim — before it counts (default 0:
   * none, no `WAIT` is sent). After each such script the store sends `WAIT
   * syncReplicas syncTimeoutMs` on the same connection (see
   * {@link RedisSendAndWait}); a grant that fewer replicas acknowledge in
   * time is given back (the key is released by its token) and answered
   * `NotReplicated` (code `NOT_REPLICATED`); such an extend is answered
   * `NotReplicated` and keeps the key (the lease acknowledged before stands). A handover is then
   * always claimed before the lease is answered. What this adds on failover:
   * a lease is answered only once its key and fencing counter are on
   * `syncReplicas` replicas, so promoting one of them keeps the lock and the
   * counter; promoting a replica that had not acknowledged can still lose
   * both (Redis replication stays asynchronous). A bad value makes every call
   * fail with `InvalidArgument` before any I/O.
   */
  readonly syncReplicas?: number
  /**
   * How long each `WAIT` waits for the acknowledgements, in ms (1 or more;
   * {@link DEFAULT_SYNC_TIMEOUT_MS} by default). It counts against the lease,
   * whose validity is measured from the moment the script was sent, and it
   * holds up the commands behind it on the same connection.
   */
  readonly syncTimeoutMs?: number
  /**
   * How long a key's fencing counter outlives the key's last grant or
   * extend, in ms ({@link DEFAULT_FENCE_IDLE_MS} by default; a whole number
   * of milliseconds, 1 or more: anything else makes every call fail with
   * `InvalidArgument` before any I/O). A counter that expired is re-seeded,
   * at the key's next grant, from the server's clock in microseconds (`TIME`),
   * which is above every fence the old counter gave provided that (1) the
   * server's clock never steps back by this long or more, and (2) the key
   * got fewer grants than microseconds passed since its counter was seeded
   * (a counter counts one per grant from a clock reading; a quorum's raises,
   * see `redisFenceCounter`, also assume the nodes' clocks agree to within
   * this period). Every store that locks a key should use the same value.
   */
  readonly fenceIdleMs?: number
}

/**
 * The default idle period after which a key's fencing counter expires, in ms:
 * one day (see {@link RedisStoreOptions}).
 *
 * @example
 * import { DEFAULT_FENCE_IDLE_MS } from 'leaselock/redis'
 * assert.strictEqual(DEFAULT_FENCE_IDLE_MS, 86_400_000)
 *
 * @since 0.3.0
 */
export const DEFAULT_FENCE_IDLE_MS = 86_400_000

/**
 * The default time `WAIT` waits for replicas when a store syncs them, in ms
 * (see {@link RedisStoreOptions}).
 *
 * @example
 * import { DEFAULT_SYNC_TIMEOUT_MS } from 'leaselock/redis'
 * assert.strictEqual(DEFAULT_SYNC_TIMEOUT_MS, 500)
 *
 * @since 0.1.0
 */
export const DEFAULT_SYNC_TIMEOUT_MS = 500

/** The longest delay a Node.js timer honours: a WAIT timeout must stay within the driver's deadline. */
const MAX_TIMER_MS = 2_147_483_647

/** What is wrong with the replication or counter options, as an `InvalidArgument`; `undefined` when nothing is. */
const checkOptions = (options: RedisStoreOptions): LockError | undefined => {
  const { syncReplicas, syncTimeoutMs, fenceIdleMs } = options
  if (fenceIdleMs !== undefined && !(Number.isSafeInteger(fenceIdleMs) && fenceIdleMs >= 1))
    return invalidArgument(`fenceIdleMs must be a whole number of milliseconds, 1 or more, got ${String(fenceIdleMs)}`)
  if (syncReplicas !== undefined && !(Number.isSafeInteger(syncReplicas) && syncReplicas >= 0))
    return invalidArgument(`syncReplicas must be a non-negative integer, got ${String(syncReplicas)}`)
  if (syncTimeoutMs !== undefined && !(Number.isSafeInteger(syncTimeoutMs) && syncTimeoutMs >= 1 && syncTimeoutMs <= MAX_TIMER_MS))
    return invalidArgument(`syncTimeoutMs must be a whole number of milliseconds in 1..${MAX_TIMER_MS}, got ${String(syncTimeoutMs)}`)
  return undefined
}

/** WAIT's reply as a count: anything but a non-negative integer (an error reply) counts as no acknowledgement. */
const acknowledgements = (reply: RedisReply): number =>
  typeof reply === 'number' && Number.isSafeInteger(reply) && reply >= 0 ? reply : typeof reply === 'bigint' && reply >= 0n ? Number(reply) : 0

/**
 * The scripts after which the key may be ours, each with how its decoded
 * reply says it is: with `syncReplicas`, each is followed by WAIT.
 */
const TAKES_KEY: ReadonlyMap<Script, (decoded: unknown) => boolean> = new Map([
  [acquireScript, (fence: unknown) => O.isSome(fence as O.Option<bigint>)],
  [acquireOrEnqueueScript, (queued: unknown) => (queued as QueueReply).granted],
  [pollScript, (queued: unknown) => (queued as QueueReply).granted],
  [extendScript, (fence: unknown) => O.isSome(fence as O.Option<bigint>)]
])

/** A wake-up on the store's channel: `"<fence> <claim ms> <token>"`. */
const HANDOVER = /^([1-9][0-9]{0,18}) ([1-9][0-9]{0,14}) ([\s\S]*)$/

/**
 * A store over a Redis driver. Grants carry a fencing token from a counter
 * beside the key (see {@link fenceKey}: it shares the key's cluster slot, and
 * expires after `fenceIdleMs` without a grant or extend; a missing counter is
 * re-seeded from the server's clock in microseconds, see
 * {@link RedisStoreOptions} for what that assumes); a grant's `revision` is
 * that token in decimal, and a grant's validity is the TTL asked for (Redis
 * expires keys with millisecond precision).
 *
 * When the driver can `subscribe`, the store has a wait `queue` (see
 * `WaitQueue`), which `Lock.acquire` uses whenever it may wait: a waiter joins
 * a FIFO queue beside the key (a sorted set and its index, see
 * {@link queueKey} and {@link waitersKey}: joining, leaving, polling and
 * handing over are O(log N) in the queue's length) and the release script
 * sets the key to the first live waiter's token for the claim TTL in its entry
 * (its own store's `claimMs`) and publishes the handover (fence, claim TTL,
 * token) on the waiter's channel; the waiter claims the key with its own TTL.
 * While its channel is up, a waiter polls only as a safety net: when the
 * holder's TTL (answered with its place in the queue) ends, at most one claim
 * TTL apart (see `Queued`).
 * The store subscribes to its channel the first time a key it asks for is held
 * (one subscription per store, over the driver's one subscriber connection),
 * before any waiter of it joins a queue. With a driver that offers sharded
 * pub/sub (`sSubscribe`: a Redis Cluster), the store's channel is named in the
 * slot of each key (see `slotChannel`; one subscription per slot its waiters
 * wait in, on that slot's master) and the scripts announce handovers with
 * `SPUBLISH`, so a release reaches the key's shard only. A holder that expires wakes nobody:
 * waiters find the free key when they poll (when its TTL ends), as
 * they find a handover whose notification was lost (a poll that finds the
 * key held and its waiter out of the queue puts the waiter back at the head). Without `subscribe` the
 * store has no queue and waiters poll with fresh attempts. Every release goes
 * through the queue-aware script, so a store without a queue still hands over
 * to waiters of other clients.
 *
 * `inspect` reads the key's TTL, its fencing counter and its live waiters in
 * one read-only script (see `inspectScript`).
 *
 * A reply the scripts cannot produce, or an error reply to a script that
 * writes more than one thing (acquire, the queue scripts, release: a script
 * stops at its failing command, after its earlier writes) is a
 * `DriverFailure` with `indeterminate: true`, as is an error reply to extend
 * (its `PEXPIRE` may have run before the counter's read failed).
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedis, redisStore } from 'leaselock/redis'
 *
 * const connected = await connectRedis({ host: 'localhost', port: Number(process.env.REDIS_PORT ?? 6379) })()
 * assert.ok(connected._tag === 'Right')
 * const lock = makeLock(redisStore(connected.right.driver))
 * const lease = await lock.acquire('reports:daily', 30_000, 5_000)()
 * assert.ok(lease._tag === 'Right')
 * await lock.release(lease.right)()
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const redisStore = (driver: RedisDriver, options: RedisStoreOptions = {}): Store => {
  const claimMs =
    options.claimMs !== undefined && Number.isSafeInteger(options.claimMs) && options.claimMs > 0 ? options.claimMs : DEFAULT_CLAIM_MS
  const claim = String(claimMs)
  const badOptions = checkOptions(options)
  const idle = String(options.fenceIdleMs ?? DEFAULT_FENCE_IDLE_MS)
  const syncReplicas = options.syncReplicas ?? 0
  const syncTimeoutMs = options.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS
  const sendAndWait: RedisSendAndWait =
    driver.sendAndWait ??
    ((command, replicas, timeoutMs) => async () => {
      const reply = await driver.send(command)()
      if (E.isLeft(reply)) return reply
      const acknowledged = await driver.send(['WAIT', String(replicas), String(timeoutMs)])()
      return E.isLeft(acknowledged) ? acknowledged : E.right([reply.right, acknowledged.right] as const)
    })

  // The per-command paths use plain async code over Either values: fp-ts's
  // pipeable combinators copy their arguments on every call, which measured as a
  // tenth of the CPU of an acquire+release round.

  /** EVALSHA, and EVAL once if the server answers NOSCRIPT. */
  const run = async (s: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): Promise<E.Either<DriverError, RedisReply>> => {
    const first = await driver.send(evalShaCommand(s, keys, args))()
    const noScript = E.isLeft(first) ? isNoScript(first.left.cause) : isNoScript(first.right)
    return noScript ? driver.send(evalCommand(s, keys, args))() : first
  }

  /** EVALSHA then WAIT on one connection, and EVAL then WAIT once if the server answers NOSCRIPT. */
  const runAndWait = async (
    s: Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>
  ): Promise<E.Either<DriverError, readonly [RedisReply, RedisReply]>> => {
    const first = await sendAndWait(evalShaCommand(s, keys, args), syncReplicas, syncTimeoutMs)()
    const noScript = E.isLeft(first) ? isNoScript(first.left.cause) : isNoScript(first.right[0])
    return noScript ? sendAndWait(evalCommand(s, keys, args), syncReplicas, syncTimeoutMs)() : first
  }

  /**
   * Decodes a script's reply; an error reply is a `DriverFailure` on `key`,
   * indeterminate for a script that takes the key (it may have written before
   * failing) unless the server refused to run it at all (see `isRefusal`).
   */
  const decodeOn = <A>(
    key: string,
    decode: (reply: unknown) => E.Either<ReplyError, A>,
    indeterminateOnErrorReply: boolean,
    reply: RedisReply
  ): E.Either<LockError, A> => {
    const decoded = decode(reply)
    if (E.isRight(decoded)) return decoded
    const why = decoded.left
    const indeterminate = why._tag === 'UnexpectedReply' || (indeterminateOnErrorReply && !isRefusal(why.error))
    return E.left(driverFailure(key, replyErrorCause(why), indeterminate))
  }

  /**
   * With `syncReplicas`, a script that may take the key runs with WAIT behind
   * it; if it took the key (`args[0]` is always the token) and too few
   * replicas acknowledged, the key is given back before answering
   * `NotReplicated` — except after an extend: the key was already ours, and
   * the lease acknowledged before still stands (the replicas hold at least
   * that), so giving the key back would free it under a holder who still
   * holds a valid lease.
   */
  const callAndWait = async <A>(
    key: string,
    decode: (reply: unknown) => E.Either<ReplyError, A>,
    took: (decoded: unknown) => boolean,
    s: Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>
  ): Promise<E.Either<LockError, A>> => {
    const replies = await runAndWait(s, keys, args)
    if (E.isLeft(replies)) return E.left(driverFailure(key, replies.left.cause, replies.left.indeterminate))
    const decoded = decodeOn(key, decode, true, replies.right[0])
    if (E.isLeft(decoded) || !took(decoded.right)) return decoded
    const acknowledged = acknowledgements(replies.right[1])
    if (acknowledged >= syncReplicas) return decoded
    if (s !== extendScript) await releaseHeld({ key, token: args[0]! })
    return E.left(notReplicated(key, syncReplicas, acknowledged))
  }

  /** Runs a script and decodes its reply; a transport failure or an error reply is a `DriverFailure` on `key`. */
  const call = async <A>(
    key: string,
    decode: (reply: unknown) => E.Either<ReplyError, A>,
    indeterminateOnErrorReply: boolean,
    s: Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>
  ): Promise<E.Either<LockError, A>> => {
    const took = syncReplicas > 0 ? TAKES_KEY.get(s) : undefined
    if (took !== undefined) return callAndWait(key, decode, took, s, keys, args)
    const reply = await run(s, keys, args)
    if (E.isLeft(reply)) return E.left(driverFailure(key, reply.left.cause, reply.left.indeterminate))
    return decodeOn(key, decode, indeterminateOnErrorReply, reply.right)
  }

  /** Runs a script over the key, its counter, its queue and the queue's index. */
  const onKey = <A>(
    decode: (reply: unknown) => E.Either<ReplyError, A>,
    indeterminateOnErrorReply: boolean,
    s: Script,
    key: string,
    args: ReadonlyArray<string>
  ): Promise<E.Either<LockError, A>> => {
    const fence = fenceKey(key)
    if (E.isLeft(fence)) return Promise.resolve(fence)
    const queue = queueKey(key)
    if (E.isLeft(queue)) return Promise.resolve(queue)
    const index = waitersKey(key)
    if (E.isLeft(index)) return Promise.resolve(index)
    return call(key, decode, indeterminateOnErrorReply, s, [key, fence.right, queue.right, index.right], args)
  }

  const toGrant = (validityMs: number, fence: bigint): Grant => ({ fence, validityMs, revision: String(fence) })

  const toInspection = (key: string, { pttl, fence, waiters }: InspectReply): Inspection => ({
    key,
    held: pttl !== -2,
    remainingMs: E.right(pttl === -2 ? 0 : pttl === -1 ? Infinity : pttl),
    fence: E.right(fence),
    waiters: E.right(waiters)
  })

  /** A script's fencing token as a grant valid for `ttlMs`. */
  const granted = (ttlMs: number, reply: E.Either<LockError, O.Option<bigint>>): E.Either<LockError, O.Option<Grant>> =>
    E.isRight(reply) && O.isSome(reply.right)
      ? E.right(O.some(toGrant(ttlMs, reply.right.value)))
      : (reply as E.Either<LockError, O.Option<never>>)

  /** On a cluster (sharded pub/sub) handovers are announced with SPUBLISH, in the key's slot. */
  const sharded = driver.sSubscribe !== undefined
  const subscribe = driver.sSubscribe ?? driver.subscribe
  const release = sharded ? shardedReleaseScript : releaseScript

  /** Frees the key if it holds this token, handing it to the first waiter (the store's `release`). */
  const releaseHeld = (held: { readonly key: string; readonly token: string }): Promise<E.Either<LockError, boolean>> =>
    onKey(decodeFlag, true, release, held.key, [held.token, idle])

  const acquire: Store['acquire'] = (key, token, ttlMs) => async () => {
    const counter = fenceKey(key)
    if (E.isLeft(counter)) return counter
    return granted(ttlMs, await call(key, decodeFence, true, acquireScript, [key, counter.right], [token, String(ttlMs), idle]))
  }

  const waitQueue = (subscribe: RedisSubscribe): WaitQueue => {
    const clock = options.clock ?? realClock
    const name = options.channel ?? `leaselock:wake:${randomToken()}`
    /** Where the waiters of `key` are woken: the store's one channel, or (sharded) its channel in the key's slot. */
    const channelOf = sharded ? (key: string) => slotChannel(key, name) : () => name
    const leave = sharded ? shardedLeaveScript : leaveScript
    const waiters = makeHandovers(clock)
    const listening = new Set<string>()
    const subscribing = new Map<string, Promise<void>>()

    // With syncReplicas, a handover proves nothing until claimed and acknowledged:
    // validity 0 makes the waiter claim it (a poll, followed by WAIT) before answering.
    const onMessage = (message: string): void => {
      const handover = HANDOVER.exec(message)
      if (handover !== null) waiters.notify(handover[3]!, toGrant(syncReplicas > 0 ? 0 : Number(handover[2]!), BigInt(handover[1]!)))
    }

    /** Subscribes to a channel once; after a failure, the next waiter tries again (meanwhile waiters only poll). */
    const listen = (channel: string): Promise<void> => {
      const pending = subscribing.get(channel)
      if (pending !== undefined) return pending
      const started = subscribe(channel, onMessage)().then((r) => {
        if (E.isRight(r)) listening.add(channel)
        subscribing.delete(channel)
      })
      subscribing.set(channel, started)
      return started
    }

    /**
     * How long a waiter of `key` may wait for a notification before polling:
     * with its channel up, until the holder's TTL ends (the key may then be
     * free, with nobody notified), at most one claim TTL (a lost notification
     * is then found before the claim lapses); otherwise it polls on its retry
     * policy (`undefined`).
     */
    const recheckMs = (key: string, holderMs: number | undefined): number | undefined =>
      holderMs === undefined || !listening.has(channelOf(key)) ? undefined : holderMs < 0 ? claimMs : Math.min(claimMs, Math.max(1, holderMs))

    /** A queue script's answer as the port's `Queued` (a grant valid for `ttlMs`). */
    const queued = (key: string, token: string, ttlMs: number, reply: E.Either<LockError, QueueReply>): E.Either<LockError, Queued> => {
      if (E.isLeft(reply)) return reply
      if (!reply.right.granted) {
        const recheck = recheckMs(key, reply.right.holderMs)
        return E.right({ _tag: 'Waiting', seen: reply.right.fence, ...(recheck === undefined ? {} : { recheckMs: recheck }) })
      }
      waiters.forget(token)
      return E.right({ _tag: 'Granted', grant: toGrant(ttlMs, reply.right.fence) })
    }

    const queueArgs = (key: string, token: string, ttlMs: number, waitMs: number): ReadonlyArray<string> => [
      token,
      String(ttlMs),
      String(Math.max(1, Math.ceil(waitMs))),
      channelOf(key),
      claim,
      idle
    ]

    const enqueue = async (key: string, token: string, ttlMs: number, waitMs: number): Promise<E.Either<LockError, Queued>> => {
      waiters.register(token)
      const joined = await onKey(decodeQueueReply, true, acquireOrEnqueueScript, key, queueArgs(key, token, ttlMs, waitMs))
      if (E.isLeft(joined)) waiters.forget(token)
      return queued(key, token, ttlMs, joined)
    }

    return {
      acquireOrEnqueue: (key, token, ttlMs, waitMs) => async () => {
        const channel = channelOf(key)
        if (listening.has(channel)) return enqueue(key, token, ttlMs, waitMs)
        const first = await acquire(key, token, ttlMs)()
        if (E.isLeft(first)) return first
        if (O.isSome(first.right)) return E.right({ _tag: 'Granted', grant: first.right.value })
        // No longer than the wait itself: a subscription still pending then goes on, and meanwhile the waiter polls.
        const done = new AbortController()
        await Promise.race([listen(channel), clock.sleep(waitMs, done.signal)])
        done.abort()
        return enqueue(key, token, ttlMs, waitMs)
      },
      awaitHandoff: (_key, token, ms, after, signal) => waiters.wait(token, ms, after, signal),
      poll: (key, token, ttlMs, waitMs) => async () => {
        waiters.register(token)
        return queued(key, token, ttlMs, await onKey(decodeQueueReply, true, pollScript, key, queueArgs(key, token, ttlMs, waitMs)))
      },
      leave: (key, token) => async () => {
        waiters.forget(token)
        const left = await onKey(decodeFlag, true, leave, key, [token, idle])
        return E.isLeft(left) ? left : E.right(undefined)
      }
    }
  }

  return {
    name: 'redis',
    checkKey: badOptions === undefined ? checkRedisKey(options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES) : () => E.left(badOptions),
    checkTtl: E.right,
    acquire,
    release: (held) => () => releaseHeld(held),
    extend: (held, ttlMs) => async () => {
      const fence = await onKey(decodeFence, true, extendScript, held.key, [held.token, String(ttlMs), idle])
      return E.isLeft(fence) ? fence : E.right(O.map((f: bigint) => ({ fence: f, validityMs: ttlMs, revision: String(f) }))(fence.right))
    },
    inspect: (key) => async () => {
      const read = await onKey(decodeInspectReply, false, inspectScript, key, [])
      return E.isLeft(read) ? read : E.right(toInspection(key, read.right))
    },
    ...(subscribe === undefined ? {} : { queue: waitQueue(subscribe) })
  }
}
