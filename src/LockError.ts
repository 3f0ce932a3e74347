/**
 * The errors of every lock operation, as a tagged union.
 *
 * Each variant maps to a stable string `code` (see {@link code}) that the
 * Promise facades put on thrown `Error`s.
 *
 * @since 0.1.0
 */
import type { Unsupported } from './Inspection.js'

/**
 * @example
 * import { InvalidArgument } from 'leaselock'
 * const e: InvalidArgument = { _tag: 'InvalidArgument', message: 'ttlMs must be a safe integer of milliseconds above the drift allowance (1% + 2 ms, so at least 3), got 0' }
 *
 * @since 0.1.0
 */
export interface InvalidArgument {
  readonly _tag: 'InvalidArgument'
  readonly message: string
}
/**
 * @example
 * import { Timeout } from 'leaselock'
 * const e: Timeout = { _tag: 'Timeout', key: 'jobs:nightly', attempts: 3, waitedMs: 1_000 }
 *
 * @since 0.1.0
 */
export interface Timeout {
  readonly _tag: 'Timeout'
  readonly key: string
  /** Requests sent to take the key. */
  readonly attempts: number
  /** How long `acquire` waited, in ms. */
  readonly waitedMs: number
  /** What the store could tell of the key when the wait ended (stores that can be inspected). */
  readonly holder?: TimeoutHolder
}

/**
 * What a timed-out acquisition learned of the key: how long it stays held,
 * and how many waiters are queued for it (each when the store can tell).
 *
 * @example
 * import { TimeoutHolder } from 'leaselock'
 * const seen: TimeoutHolder = { remainingMs: 2_400, waiters: 2 }
 *
 * @since 0.3.0
 */
export interface TimeoutHolder {
  readonly remainingMs?: number
  readonly waiters?: number
}
/**
 * @example
 * import { NotHeld } from 'leaselock'
 * const e: NotHeld = { _tag: 'NotHeld', key: 'jobs:nightly' }
 *
 * @since 0.1.0
 */
export interface NotHeld {
  readonly _tag: 'NotHeld'
  readonly key: string
}
/**
 * @example
 * import { DriverFailure } from 'leaselock'
 * const e: DriverFailure = { _tag: 'DriverFailure', key: 'jobs:nightly', cause: new Error('ECONNRESET'), indeterminate: true }
 *
 * @since 0.1.0
 */
export interface DriverFailure {
  readonly _tag: 'DriverFailure'
  readonly key: string
  readonly cause: unknown
  /** `true` when the command may have been applied by the server (e.g. a deadline passed after it was written). */
  readonly indeterminate: boolean
}
/**
 * A write that took or kept a key was not acknowledged by enough replicas in
 * time (Redis `syncReplicas`): a grant was given back, nothing is held; an
 * extend changed nothing the caller may count on (the lease it extends
 * stands until its own `validUntil`).
 *
 * @example
 * import { NotReplicated } from 'leaselock'
 * const e: NotReplicated = { _tag: 'NotReplicated', key: 'jobs:nightly', required: 1, acknowledged: 0 }
 *
 * @since 0.1.0
 */
export interface NotReplicated {
  readonly _tag: 'NotReplicated'
  readonly key: string
  /** How many replicas had to acknowledge the write. */
  readonly required: number
  /** How many did, within the sync timeout. */
  readonly acknowledged: number
}
/**
 * @example
 * import { Aborted } from 'leaselock'
 * const e: Aborted = { _tag: 'Aborted', key: 'jobs:nightly', reason: 'shutting down' }
 *
 * @since 0.1.0
 */
export interface Aborted {
  readonly _tag: 'Aborted'
  readonly key: string
  readonly reason: unknown
}
/**
 * @example
 * import { NotOpened } from 'leaselock'
 * const e: NotOpened = { _tag: 'NotOpened' }
 *
 * @since 0.1.0
 */
export interface NotOpened {
  readonly _tag: 'NotOpened'
}
/**
 * @example
 * import { NoConnection } from 'leaselock'
 * const e: NoConnection = { _tag: 'NoConnection' }
 *
 * @since 0.1.0
 */
export interface NoConnection {
  readonly _tag: 'NoConnection'
}
/**
 * @example
 * import { ConnectFailed } from 'leaselock'
 * const e: ConnectFailed = { _tag: 'ConnectFailed', target: '127.0.0.1:6379', cause: new Error('ECONNREFUSED') }
 *
 * @since 0.1.0
 */
export interface ConnectFailed {
  /** The server (`host:port`, or a URI without its password) that could not be reached. */
  readonly _tag: 'ConnectFailed'
  readonly target: string
  readonly cause: unknown
}
/**
 * @example
 * import { ConfigError } from 'leaselock'
 * const e: ConfigError = { _tag: 'ConfigError', errors: ['connection.port: expected an integer in 1..65535, got "abc"'] }
 *
 * @since 0.1.0
 */
export interface ConfigError {
  readonly _tag: 'ConfigError'
  readonly errors: ReadonlyArray<string>
}

/**
 * What one node of a quorum answered, for {@link NoQuorum}'s message.
 *
 * @example
 * import { NodeOutcome } from 'leaselock'
 * const frozen: NodeOutcome = { node: 'redis 127.0.0.1:6381', outcome: 'no answer, outcome unknown (Redis did not reply within 500 ms)' }
 *
 * @since 0.1.0
 */
export interface NodeOutcome {
  /** The node's label (see `Store.label`). */
  readonly node: string
  readonly outcome: string
}
/**
 * A quorum operation could not get a majority of its nodes to agree: too
 * few answered, or their answers split so that neither outcome has a
 * majority. `nodes` says what each node did, in the order the nodes were given.
 *
 * @example
 * import { NoQuorum } from 'leaselock'
 * const e: NoQuorum = {
 *   _tag: 'NoQuorum', key: 'jobs:nightly', operation: 'acquire', quorum: 2,
 *   nodes: [{ node: 'redis #1', outcome: 'granted' }, { node: 'redis #2', outcome: 'failed (connection refused)' }, { node: 'redis #3', outcome: 'failed (connection refused)' }]
 * }
 *
 * @since 0.1.0
 */
export interface NoQuorum {
  readonly _tag: 'NoQuorum'
  readonly key: string
  /** `fence` is the counter round of an acquisition, after a majority granted the key. */
  readonly operation: 'acquire' | 'release' | 'extend' | 'fence'
  /** How many nodes had to agree. */
  readonly quorum: number
  readonly nodes: ReadonlyArray<NodeOutcome>
}

/**
 * Everything a lock operation can fail with.
 *
 * @example
 * import { LockError } from 'leaselock'
 * const describe = (e: LockError): string => e._tag === 'Timeout' ? `gave up on ${e.key}` : e._tag
 *
 * @since 0.1.0
 */
export type LockError =
  | InvalidArgument
  | Timeout
  | NotHeld
  | DriverFailure
  | NotReplicated
  | Aborted
  | NotOpened
  | NoConnection
  | ConnectFailed
  | ConfigError
  | NoQuorum
  | Unsupported

/**
 * @example
 * import { invalidArgument } from 'leaselock'
 * invalidArgument('ttlMs must be a positive safe integer, got -1')
 *
 * @since 0.1.0
 */
export const invalidArgument = (message: string): LockError => ({ _tag: 'InvalidArgument', message })

/**
 * @example
 * import { timeout } from 'leaselock'
 * timeout('jobs:nightly', 3, 1_000)
 *
 * @since 0.1.0
 */
export const timeout = (key: string, attempts: number, waitedMs: number, holder?: TimeoutHolder): LockError =>
  holder === undefined ? { _tag: 'Timeout', key, attempts, waitedMs } : { _tag: 'Timeout', key, attempts, waitedMs, holder }

const describeHolder = (h: TimeoutHolder | undefined): string => {
  const parts = [
    ...(h?.remainingMs === undefined ? [] : [h.remainingMs > 0 ? `held for ${Math.round(h.remainingMs)} ms more` : 'free now']),
    ...(h?.waiters === undefined ? [] : [`${h.waiters} waiting`])
  ]
  return parts.length === 0 ? '' : `; ${parts.join(', ')}`
}

/**
 * @example
 * import { notHeld } from 'leaselock'
 * notHeld('jobs:nightly')
 *
 * @since 0.1.0
 */
export const notHeld = (key: string): LockError => ({ _tag: 'NotHeld', key })

/**
 * @example
 * import { driverFailure } from 'leaselock'
 * driverFailure('jobs:nightly', new Error('ECONNRESET'), true)
 *
 * @since 0.1.0
 */
export const driverFailure = (key: string, cause: unknown, indeterminate: boolean): LockError => ({
  _tag: 'DriverFailure',
  key,
  cause,
  indeterminate
})

/**
 * @example
 * import { notReplicated } from 'leaselock'
 * notReplicated('jobs:nightly', 1, 0)
 *
 * @since 0.1.0
 */
export const notReplicated = (key: string, required: number, acknowledged: number): LockError => ({
  _tag: 'NotReplicated',
  key,
  required,
  acknowledged
})

/**
 * @example
 * import { aborted } from 'leaselock'
 * aborted('jobs:nightly', 'shutting down')
 *
 * @since 0.1.0
 */
export const aborted = (key: string, reason: unknown): LockError => ({ _tag: 'Aborted', key, reason })

/**
 * @example
 * import { notOpened } from 'leaselock'
 * notOpened
 *
 * @since 0.1.0
 */
export const notOpened: LockError = { _tag: 'NotOpened' }

/**
 * @example
 * import { noConnection } from 'leaselock'
 * noConnection
 *
 * @since 0.1.0
 */
export const noConnection: LockError = { _tag: 'NoConnection' }

/**
 * @example
 * import { connectFailed } from 'leaselock'
 * connectFailed('127.0.0.1:6379', new Error('ECONNREFUSED'))
 *
 * @since 0.1.0
 */
export const connectFailed = (target: string, cause: unknown): LockError => ({ _tag: 'ConnectFailed', target, cause })

/**
 * @example
 * import { configError } from 'leaselock'
 * configError(['options.retry_timeout: expected a non-negative integer, got "abc"'])
 *
 * @since 0.1.0
 */
export const configError = (errors: ReadonlyArray<string>): LockError => ({ _tag: 'ConfigError', errors })

/**
 * @example
 * import { noQuorum } from 'leaselock'
 * noQuorum('jobs:nightly', 'acquire', 2, [{ node: 'redis #1', outcome: 'granted' }])
 *
 * @since 0.1.0
 */
export const noQuorum = (
  key: string,
  operation: NoQuorum['operation'],
  quorum: number,
  nodes: ReadonlyArray<NodeOutcome>
): LockError => ({ _tag: 'NoQuorum', key, operation, quorum, nodes })

const QUORUM_VERBS: Readonly<Record<NoQuorum['operation'], string>> = {
  acquire: 'Acquiring',
  release: 'Releasing',
  extend: 'Extending',
  fence: 'Fencing'
}

/**
 * The stable error code of a {@link LockError}, as carried by thrown errors.
 *
 * @example
 * import { code, timeout } from 'leaselock'
 * assert.strictEqual(code(timeout('k', 1, 0)), 'LOCK_TIMEOUT')
 *
 * @since 0.1.0
 */
export const code = (e: LockError): string => {
  switch (e._tag) {
    case 'InvalidArgument':
      return 'INVALID_ARGUMENT'
    case 'Timeout':
      return 'LOCK_TIMEOUT'
    case 'NotHeld':
      return 'NOT_HELD'
    case 'DriverFailure':
      return 'DRIVER_FAILURE'
    case 'NotReplicated':
      return 'NOT_REPLICATED'
    case 'Aborted':
      return 'ABORTED'
    case 'NotOpened':
      return 'NOT_OPENED'
    case 'NoConnection':
      return 'NO_CONNECTION'
    case 'ConnectFailed':
      return 'CONNECT_FAILED'
    case 'ConfigError':
      return 'INVALID_CONFIG'
    case 'NoQuorum':
      return 'NO_QUORUM'
    case 'Unsupported':
      return 'UNSUPPORTED'
  }
}

const causeMessage = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : JSON.stringify(cause) ?? String(cause)

/**
 * A human-readable message for a {@link LockError}.
 *
 * @example
 * import { message, timeout } from 'leaselock'
 * assert.strictEqual(message(timeout('k', 3, 1_000)), 'Acquiring lock k failed on timeout (3 attempts in 1000 ms)')
 * assert.strictEqual(message(timeout('k', 3, 1_000, { remainingMs: 2_400, waiters: 2 })), 'Acquiring lock k failed on timeout (3 attempts in 1000 ms; held for 2400 ms more, 2 waiting)')
 *
 * @since 0.1.0
 */
export const message = (e: LockError): string => {
  switch (e._tag) {
    case 'InvalidArgument':
      return e.message
    case 'Timeout':
      return `Acquiring lock ${e.key} failed on timeout (${e.attempts} ${e.attempts === 1 ? 'attempt' : 'attempts'} in ${Math.round(e.waitedMs)} ms${describeHolder(e.holder)})`
    case 'NotHeld':
      return `Lock ${e.key} is not held by this lease (it expired or another holder owns it)`
    case 'DriverFailure':
      return `Lock ${e.key}: ${e.indeterminate ? 'outcome unknown' : 'request failed'}: ${causeMessage(e.cause)}`
    case 'NotReplicated':
      return `Lock ${e.key}: ${e.acknowledged} of the ${e.required} replica(s) required acknowledged the write in time; a grant is given back, an extended lease stands until its own validUntil`
    case 'Aborted':
      return `Acquiring lock ${e.key} was aborted: ${causeMessage(e.reason)}`
    case 'NotOpened':
      return 'Connection is not opened'
    case 'NoConnection':
      return 'Connection is not configured'
    case 'ConnectFailed':
      return `Cannot connect to ${e.target}: ${causeMessage(e.cause)}`
    case 'ConfigError':
      return `Invalid configuration: ${e.errors.join('; ')}`
    case 'NoQuorum':
      return `${QUORUM_VERBS[e.operation]} lock ${e.key} got no majority (${e.quorum} of ${e.nodes.length} nodes needed): ${e.nodes.map((n) => `${n.node}: ${n.outcome}`).join('; ')}`
    case 'Unsupported':
      return `The ${e.store} store does not support ${e.what === 'permits' ? 'semaphores or read-write locks' : `reading ${e.what}`}: ${e.why}`
  }
}

/**
 * The `Error` the Promise facades throw: it carries the {@link code}, the
 * original {@link LockError} and the caller's correlation id.
 *
 * @example
 * import { LockException, timeout } from 'leaselock'
 * const err = new LockException(timeout('k', 1, 0), '123')
 * assert.strictEqual(err.code, 'LOCK_TIMEOUT')
 * assert.strictEqual(err.traceId, '123')
 *
 * @since 0.1.0
 */
export class LockException extends Error {
  readonly code: string
  constructor(readonly error: LockError, readonly traceId?: string) {
    super(message(error), error._tag === 'DriverFailure' || error._tag === 'ConnectFailed' ? { cause: error.cause } : undefined)
    this.name = 'LockException'
    this.code = code(error)
  }
}
