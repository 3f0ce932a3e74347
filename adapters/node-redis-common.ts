/**
 * What the node-redis drivers share (one server, Cluster, Sentinel), exported
 * from `leaselock/redis` as building blocks for a driver of your own over a
 * node-redis client: commands sent with a deadline of their own that tells
 * whether a failed command may have run, a command and `WAIT` as one pair,
 * re-sending while a cluster is busy, and the checks of connect options.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { AbortError, ClientClosedError, ClientOfflineError, ErrorReply, MaxCommandRedirectionsError, RootNodesUnavailableError } from 'redis'
import { showValue } from '../src/config/showValue.js'
import { settleOr } from './settle.js'
import { DriverError, driverError } from '../src/Driver.js'
import { RedisReply, fromClientReply } from '../src/redis/RedisReply.js'

/**
 * A deadline passed before the reply came; the command may or may not have run.
 *
 * @example
 * import { CommandTimeoutError } from 'leaselock/redis'
 * import { DriverFailure } from 'leaselock'
 * const timedOut = (e: DriverFailure): boolean => e.cause instanceof CommandTimeoutError
 *
 * @since 0.1.0
 */
export class CommandTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`Redis did not reply within ${timeoutMs} ms`)
    this.name = 'CommandTimeoutError'
  }
}

/**
 * Failures that certainly happened before the command reached a server: the
 * client is closed or offline, the command was still queued when its deadline
 * passed (and was withdrawn), the queue was full, or (Cluster) no node could
 * be found for it.
 *
 * @example
 * import { ClientOfflineError, SocketClosedUnexpectedlyError } from 'redis'
 * import { isNotSent } from 'leaselock/redis'
 * assert.ok(isNotSent(new ClientOfflineError()))
 * assert.ok(!isNotSent(new SocketClosedUnexpectedlyError()))
 *
 * @since 0.1.0
 */
export const isNotSent = (e: unknown): boolean =>
  e instanceof ClientClosedError ||
  e instanceof ClientOfflineError ||
  e instanceof AbortError ||
  e instanceof MaxCommandRedirectionsError ||
  e instanceof RootNodesUnavailableError ||
  (e instanceof Error && e.message === 'The queue is full')

/**
 * The function a driver sends commands through: a node-redis client's
 * `sendCommand`, or one that routes to the right node first.
 *
 * @example
 * import { createClient } from 'redis'
 * import type { SendCommand } from 'leaselock/redis'
 * const client = createClient()
 * const send: SendCommand = (args, options) => client.sendCommand([...args], options)
 *
 * @since 0.1.0
 */
export type SendCommand = (args: ReadonlyArray<string>, options?: { abortSignal?: AbortSignal }) => Promise<unknown>

/**
 * Sends one command with a deadline: when it passes, a command still waiting
 * in the client's queue is withdrawn (with `withdrawQueued`: a `DriverError`
 * with `indeterminate: false`); one already written is given up on
 * (`indeterminate: true`, its reply is ignored). An error reply is a `Right`
 * holding the `Error`; a failure before sending is determinate, a connection
 * lost in flight is not.
 *
 * @example
 * import { createClient } from 'redis'
 * import { sendWithin } from 'leaselock/redis'
 * const client = createClient({ url: `redis://localhost:${process.env.REDIS_PORT ?? 6379}` })
 * client.on('error', () => {})
 * await client.connect()
 * const pong = await sendWithin((args, options) => client.sendCommand([...args], options), ['PING'], 1_000, true)
 * assert.deepStrictEqual(pong, { _tag: 'Right', right: 'PONG' })
 * await client.close()
 *
 * @since 0.1.0
 */
export const sendWithin = (
  sendCommand: SendCommand,
  command: ReadonlyArray<string>,
  timeoutMs: number,
  withdrawQueued: boolean
): Promise<E.Either<DriverError, RedisReply>> =>
  new Promise<E.Either<DriverError, RedisReply>>((resolve) => {
    const controller = withdrawQueued ? new AbortController() : undefined
    let settled = false
    const settle = (result: E.Either<DriverError, RedisReply>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    const timer = setTimeout(() => {
      // Withdraws the command if it is still queued: its promise then rejects with
      // AbortError before the check below runs. A command already written is not affected.
      controller?.abort()
      setImmediate(() => settle(E.left(driverError(new CommandTimeoutError(timeoutMs), true))))
    }, timeoutMs)
    let sent: Promise<unknown>
    try {
      sent = sendCommand(command, controller === undefined ? undefined : { abortSignal: controller.signal })
    } catch (e) {
      return settle(E.left(driverError(e, false)))
    }
    sent.then(
      (reply) => settle(E.right(fromClientReply(reply))),
      (e: unknown) =>
        settle(
          e instanceof ErrorReply
            ? E.right(e)
            : e instanceof AbortError
              ? E.left(driverError(new CommandTimeoutError(timeoutMs), false))
              : E.left(driverError(e, !isNotSent(e)))
        )
    )
  })

/**
 * A command's reply: its value, or the `Error` of an error reply; any other
 * rejection (a transport failure) passes through.
 *
 * @example
 * import { ErrorReply } from 'redis'
 * import { replyOf } from 'leaselock/redis'
 * assert.ok((await replyOf(Promise.reject(new ErrorReply('ERR x')))) instanceof Error)
 * assert.deepStrictEqual(await replyOf(Promise.resolve(new Map([['a', 1]]))), ['a', 1])
 *
 * @since 0.1.0
 */
export const replyOf = (sent: Promise<unknown>): Promise<RedisReply> =>
  sent.then(fromClientReply, (e: unknown) => (e instanceof ErrorReply ? e : Promise.reject(e)))

/**
 * Sends a command and `WAIT replicas timeoutMs` with one deadline (the
 * command deadline plus the WAIT timeout): `send` writes both on one
 * connection and answers both replies. Failures are judged as in
 * {@link sendWithin}; the pair is never withdrawn once started.
 *
 * @example
 * import { createClient } from 'redis'
 * import { replyOf, sendAndWaitWithin } from 'leaselock/redis'
 * const client = createClient({ url: `redis://localhost:${process.env.REDIS_PORT ?? 6379}` })
 * client.on('error', () => {})
 * await client.connect()
 * const both = await sendAndWaitWithin(
 *   (command, wait) => Promise.all([replyOf(client.sendCommand([...command])), replyOf(client.sendCommand([...wait]))]),
 *   ['SET', 'send-and-wait:example', 'v', 'PX', '1000'], 0, 100, 1_000
 * )
 * assert.deepStrictEqual(both, { _tag: 'Right', right: ['OK', 0] }) // no replica asked for, none counted
 * await client.close()
 *
 * @since 0.1.0
 */
export const sendAndWaitWithin = (
  send: (command: ReadonlyArray<string>, wait: ReadonlyArray<string>) => Promise<readonly [RedisReply, RedisReply]>,
  command: ReadonlyArray<string>,
  replicas: number,
  waitMs: number,
  commandTimeoutMs: number
): Promise<E.Either<DriverError, readonly [RedisReply, RedisReply]>> =>
  new Promise((resolve) => {
    const timeoutMs = commandTimeoutMs + waitMs
    const timer = setTimeout(() => resolve(E.left(driverError(new CommandTimeoutError(timeoutMs), true))), timeoutMs)
    let sent: Promise<readonly [RedisReply, RedisReply]>
    try {
      sent = send(command, ['WAIT', String(replicas), String(waitMs)])
    } catch (e) {
      clearTimeout(timer)
      return resolve(E.left(driverError(e, false)))
    }
    sent.then(
      (replies) => {
        clearTimeout(timer)
        resolve(E.right(replies))
      },
      (e: unknown) => {
        clearTimeout(timer)
        resolve(E.left(driverError(e, !isNotSent(e))))
      }
    )
  })

/**
 * Settles with the promise's outcome, or with a {@link CommandTimeoutError}
 * after `ms`; leaves no timer behind and never rejects.
 *
 * @example
 * import { settleWithin } from 'leaselock/redis'
 * assert.strictEqual((await settleWithin(new Promise(() => {}), 10))._tag, 'Left')
 * assert.deepStrictEqual(await settleWithin(Promise.resolve(1), 10), { _tag: 'Right', right: 1 })
 *
 * @since 0.1.0
 */
export const settleWithin = <A>(promise: Promise<A>, ms: number): Promise<E.Either<unknown, A>> =>
  settleOr(promise, ms, () => new CommandTimeoutError(ms))

/** The longest delay a Node.js timer honours (a larger one fires at once). */
const MAX_TIMER_MS = 2_147_483_647

const isIntegerIn = (u: unknown, min: number, max: number): boolean => Number.isSafeInteger(u) && (u as number) >= min && (u as number) <= max

const isNonEmptyString = (u: unknown): boolean => typeof u === 'string' && u.trim() !== ''

const isNode = (u: unknown): boolean =>
  typeof u === 'object' && u !== null && isNonEmptyString((u as { host?: unknown }).host) && isIntegerIn((u as { port?: unknown }).port, 1, 65_535)

/**
 * How one connect option is checked: its name, a test of its value (only
 * when it is given), and what it should be, for the message.
 *
 * @example
 * import { OptionRule, optionRules } from 'leaselock/redis'
 * const rule: OptionRule = ['port', ...optionRules.port]
 * assert.ok(rule[1](6379))
 *
 * @since 0.1.0
 */
export type OptionRule = readonly [key: string, ok: (u: unknown) => boolean, expected: string]

/**
 * The tests and expectations the node-redis connectors share.
 *
 * @example
 * import { optionRules } from 'leaselock/redis'
 * assert.ok(optionRules.port[0](6379))
 * assert.ok(!optionRules.nodes[0]([]))
 *
 * @since 0.1.0
 */
export const optionRules = {
  nonEmpty: [isNonEmptyString, 'a non-empty string'],
  host: [isNonEmptyString, 'a host name'],
  port: [(u: unknown) => isIntegerIn(u, 1, 65_535), 'an integer in 1..65535'],
  string: [(u: unknown) => typeof u === 'string', 'a string'],
  database: [(u: unknown) => isIntegerIn(u, 0, Number.MAX_SAFE_INTEGER), 'a non-negative integer'],
  timeout: [(u: unknown) => isIntegerIn(u, 1, MAX_TIMER_MS), `a whole number of milliseconds in 1..${MAX_TIMER_MS}`],
  retries: [(u: unknown) => u === Infinity || isIntegerIn(u, 0, Number.MAX_SAFE_INTEGER), 'a non-negative integer or Infinity'],
  nodes: [(u: unknown) => Array.isArray(u) && u.length > 0 && u.every(isNode), 'a non-empty array of { host, port }']
} as const

/**
 * What is wrong with connect options, one message per bad option, naming it
 * and its value; a `password` is never shown, only its type. A missing option
 * is fine unless `required` names it.
 *
 * @example
 * import { checkOptions, optionRules } from 'leaselock/redis'
 * assert.deepStrictEqual(checkOptions({ port: 0 }, [['port', ...optionRules.port]]), ['port: expected an integer in 1..65535, got 0'])
 *
 * @since 0.1.0
 */
export const checkOptions = (options: unknown, rules: ReadonlyArray<OptionRule>, required: ReadonlyArray<string> = []): ReadonlyArray<string> => {
  if (typeof options !== 'object' || options === null) return [`options: expected an object, got ${showValue(options)}`]
  const errors: Array<string> = []
  for (const [key, ok, expected] of rules) {
    const value: unknown = (options as Record<string, unknown>)[key]
    if (value === undefined ? required.includes(key) : !ok(value))
      errors.push(`${key}: expected ${expected}, got ${key.toLowerCase().endsWith('password') ? `a value of type ${typeof value}` : showValue(value)}`)
  }
  return errors
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Sends a command (through `attempt`, given the time left) again while its
 * reply says the cluster cannot serve it yet (`busy`: `TRYAGAIN`,
 * `CLUSTERDOWN`, …: the command did not run), waiting 10 ms, then twice as
 * long each time up to 100 ms, within `timeoutMs` in all. When no time is
 * left for another try, the last such reply becomes a determinate
 * `DriverError` (the command never ran).
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import { isTryAgain, untilServed } from 'leaselock/redis'
 * const r = await untilServed(100, async () => E.right(new Error('CLUSTERDOWN The cluster is down')), isTryAgain, (reply) => reply)
 * assert.ok(r._tag === 'Left' && !r.left.indeterminate)
 *
 * @since 0.1.0
 */
export const untilServed = async <A>(
  timeoutMs: number,
  attempt: (remainingMs: number) => Promise<E.Either<DriverError, A>>,
  busy: (reply: RedisReply) => boolean,
  replyOf: (a: A) => RedisReply
): Promise<E.Either<DriverError, A>> => {
  const deadline = performance.now() + timeoutMs
  for (let delay = 10; ; delay = Math.min(2 * delay, 100)) {
    const result = await attempt(Math.max(1, Math.round(deadline - performance.now())))
    if (E.isLeft(result) || !busy(replyOf(result.right))) return result
    if (deadline - performance.now() <= delay) return E.left(driverError(replyOf(result.right), false))
    await sleep(delay)
  }
}

/**
 * The longest a down Redis node is left alone between two reconnection
 * attempts: 1000 ms (the same cap as a down Memcached server's). A node that
 * comes back is thus connected again within about this long.
 *
 * @example
 * import { RECONNECT_MAX_MS } from 'leaselock/redis'
 * assert.strictEqual(RECONNECT_MAX_MS, 1_000)
 *
 * @since 0.3.0
 */
export const RECONNECT_MAX_MS = 1_000
const RECONNECT_BASE_MS = 50

/**
 * The wait before reconnection attempt `retries` (1 for the first attempt
 * that failed) of a connection that was up: a ceiling that doubles from 50 ms
 * up to {@link RECONNECT_MAX_MS}, with "equal jitter": half the ceiling fixed,
 * the other half drawn with `random` (a number in [0, 1)), so clients that lost
 * the same node do not come back in step, and none comes back sooner than half
 * the ceiling.
 *
 * @example
 * import { reconnectDelay } from 'leaselock/redis'
 * assert.strictEqual(reconnectDelay(1, () => 0), 25)
 * assert.strictEqual(reconnectDelay(2, () => 0.5), 75)
 * assert.strictEqual(reconnectDelay(40, () => 0.999999), 999.9995)
 *
 * @since 0.3.0
 */
export const reconnectDelay = (retries: number, random: () => number): number => {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(Math.max(retries - 1, 0), 30))
  return ceiling / 2 + (random() * ceiling) / 2
}

/**
 * A command not sent because the connection to its Redis node is down and
 * being re-established: the driver answers from the client's state, at once,
 * without queueing the command behind the reconnection or opening a socket
 * for it. `retryInMs` is when the next connection attempt starts (0: one is
 * under way). Determinate: nothing was sent.
 *
 * @example
 * import { RedisServerDownError } from 'leaselock/redis'
 * assert.match(new RedisServerDownError('127.0.0.1:6379', 40, 'connect ECONNREFUSED 127.0.0.1:6379').message, /ECONNREFUSED.*next try in 40 ms/)
 *
 * @since 0.3.0
 */
export class RedisServerDownError extends Error {
  constructor(
    readonly server: string,
    readonly retryInMs: number,
    /** What the last connection attempt (or the dropped connection) answered. */
    readonly lastFailure: string
  ) {
    super(`Redis ${server} is down (${lastFailure}): next try in ${Math.round(retryInMs)} ms`)
    this.name = 'RedisServerDownError'
  }
}

/**
 * What a driver knows of its connection's outage: node-redis's
 * `reconnectStrategy` for a connection that was up (it records each failure
 * and when the next attempt starts, and answers {@link reconnectDelay}), and
 * the error to answer a command with while the client is not ready.
 *
 * @example
 * import { outageOf } from 'leaselock/redis'
 * let now = 0
 * const outage = outageOf('127.0.0.1:6379', () => 0, () => now)
 * assert.strictEqual(outage.downError(), undefined)
 * assert.strictEqual(outage.reconnectStrategy(1, new Error('connect ECONNREFUSED')), 25)
 * now = 10
 * assert.strictEqual(outage.downError()?.retryInMs, 15)
 * outage.up()
 * assert.strictEqual(outage.downError(), undefined)
 *
 * @since 0.3.0
 */
export interface Outage {
  /** For a client's `socket.reconnectStrategy` once it has connected: the wait before attempt `retries`. */
  readonly reconnectStrategy: (retries: number, cause: unknown) => number
  /** The connection is up again: forget the outage. */
  readonly up: () => void
  /** A {@link RedisServerDownError} while an outage is recorded, else `undefined`. */
  readonly downError: () => RedisServerDownError | undefined
}

/**
 * Tracks the outage of one connection to `server` (see {@link Outage}), with
 * jitter drawn from `random` and time read from `now` (milliseconds).
 *
 * @example
 * import { outageOf } from 'leaselock/redis'
 * const outage = outageOf('127.0.0.1:6379', Math.random, () => performance.now())
 * assert.ok(outage.reconnectStrategy(3, new Error('down')) <= 200)
 *
 * @since 0.3.0
 */
export const outageOf = (server: string, random: () => number, now: () => number): Outage => {
  let down: { lastFailure: string; nextTryAt: number } | undefined
  return {
    reconnectStrategy: (retries, cause) => {
      // node-redis reconnects at once after a drop (retries 0), then waits the answered delay after each failure.
      const delay = retries === 0 ? 0 : reconnectDelay(retries, random)
      down = { lastFailure: cause instanceof Error ? cause.message || cause.name : String(cause), nextTryAt: now() + delay }
      return delay
    },
    up: () => {
      down = undefined
    },
    downError: () => (down === undefined ? undefined : new RedisServerDownError(server, Math.max(0, down.nextTryAt - now()), down.lastFailure))
  }
}
