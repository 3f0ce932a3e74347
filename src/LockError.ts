/**
 * The errors of every lock operation, as a tagged union.
 *
 * Each variant maps to a stable string `code` (see {@link code}) that the
 * Promise facades put on thrown `Error`s.
 *
 * @since 0.1.0
 */

/**
 * @example
 * import { InvalidArgument } from 'leaselock'
 * const e: InvalidArgument = { _tag: 'InvalidArgument', message: 'ttlMs must be a positive safe integer (milliseconds), got 0' }
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
 * const e: Timeout = { _tag: 'Timeout', key: 'jobs:nightly', attempts: 3 }
 *
 * @since 0.1.0
 */
export interface Timeout {
  readonly _tag: 'Timeout'
  readonly key: string
  readonly attempts: number
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
 * time (Redis `syncReplicas`): the grant was given back, nothing is held.
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
 * timeout('jobs:nightly', 3)
 *
 * @since 0.1.0
 */
export const timeout = (key: string, attempts: number): LockError => ({ _tag: 'Timeout', key, attempts })

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
 * The stable error code of a {@link LockError}, as carried by thrown errors.
 *
 * @example
 * import { code, timeout } from 'leaselock'
 * assert.strictEqual(code(timeout('k', 1)), 'LOCK_TIMEOUT')
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
  }
}

const causeMessage = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : JSON.stringify(cause) ?? String(cause)

/**
 * A human-readable message for a {@link LockError}.
 *
 * @example
 * import { message, timeout } from 'leaselock'
 * assert.strictEqual(message(timeout('k', 1)), 'Acquiring lock k failed on timeout')
 *
 * @since 0.1.0
 */
export const message = (e: LockError): string => {
  switch (e._tag) {
    case 'InvalidArgument':
      return e.message
    case 'Timeout':
      return `Acquiring lock ${e.key} failed on timeout`
    case 'NotHeld':
      return `Lock ${e.key} is not held by this lease (it expired or another holder owns it)`
    case 'DriverFailure':
      return `Lock ${e.key}: ${e.indeterminate ? 'outcome unknown' : 'request failed'}: ${causeMessage(e.cause)}`
    case 'NotReplicated':
      return `Lock ${e.key}: ${e.acknowledged} of the ${e.required} replica(s) required acknowledged the write in time; the grant was given back`
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
  }
}

/**
 * The `Error` the Promise facades throw: it carries the {@link code}, the
 * original {@link LockError} and the caller's correlation id.
 *
 * @example
 * import { LockException, timeout } from 'leaselock'
 * const err = new LockException(timeout('k', 1), '123')
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
