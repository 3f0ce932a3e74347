/**
 * The minimal I/O port: send one command, get one reply.
 *
 * An adapter wraps a client library into a `Driver`; a protocol module turns a
 * `Driver` into a {@link Store}. Writing a `Driver` is how a user plugs in a
 * client of their own.
 *
 * @since 0.1.0
 */
import type * as TE from 'fp-ts/lib/TaskEither.js'

/**
 * A failure of the transport, not of the lock.
 *
 * @example
 * import { DriverError } from 'leaselock'
 * const retryable = (e: DriverError): boolean => !e.indeterminate
 *
 * @since 0.1.0
 */
export interface DriverError {
  readonly _tag: 'DriverError'
  readonly cause: unknown
  /**
   * `true` when the command may have reached the server and been applied (the
   * connection dropped or a deadline passed after it was written); `false` when
   * it certainly was not applied (e.g. the client was not connected).
   */
  readonly indeterminate: boolean
}

/**
 * @example
 * import { driverError } from 'leaselock'
 * driverError(new Error('ECONNREFUSED'), false)
 *
 * @since 0.1.0
 */
export const driverError = (cause: unknown, indeterminate: boolean): DriverError => ({
  _tag: 'DriverError',
  cause,
  indeterminate
})

/**
 * @example
 * import { Driver } from 'leaselock'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * const echo: Driver<ReadonlyArray<string>, string> = { send: (cmd) => TE.right(cmd.join(' ')) }
 *
 * @since 0.1.0
 */
export interface Driver<Command, Reply> {
  readonly send: (command: Command) => TE.TaskEither<DriverError, Reply>
}
