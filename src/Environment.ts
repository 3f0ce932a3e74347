/**
 * Everything nondeterministic the lock core needs: time, randomness and tokens.
 *
 * @since 0.1.0
 */
import { randomBytes } from 'node:crypto'
import { Clock, realClock } from './Clock.js'

/**
 * @example
 * import { Environment, VirtualClock } from 'leaselock'
 * let n = 0
 * const testEnv: Environment = { clock: new VirtualClock(), random: () => 0.5, token: () => `token-${n++}` }
 *
 * @since 0.1.0
 */
export interface Environment {
  readonly clock: Clock
  /** Uniform in [0, 1): used for jitter. */
  readonly random: () => number
  /** A fresh, unguessable owner token for each acquisition. */
  readonly token: () => string
}

/**
 * A 128-bit random token from the operating system's CSPRNG, base64url-encoded (22 characters).
 *
 * @example
 * import { randomToken } from 'leaselock'
 * assert.strictEqual(randomToken().length, 22)
 *
 * @since 0.1.0
 */
export const randomToken = (): string => randomBytes(16).toString('base64url')

/**
 * The production environment: monotonic clock, `Math.random` for jitter, CSPRNG tokens.
 *
 * @example
 * import { liveEnvironment } from 'leaselock'
 * liveEnvironment.token()
 *
 * @since 0.1.0
 */
export const liveEnvironment: Environment = { clock: realClock, random: Math.random, token: randomToken }
