/**
 * Everything nondeterministic the lock core needs: time, randomness and tokens.
 *
 * @since 0.1.0
 */
import { randomFillSync } from 'node:crypto'
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

const TOKEN_BYTES = 16
const POOL_TOKENS = 256
const pool = Buffer.alloc(TOKEN_BYTES * POOL_TOKENS)
let offset = pool.length

/**
 * A 128-bit random token from the operating system's CSPRNG, base64url-encoded
 * (22 characters). Random bytes are drawn 4 KiB at a time, so a token costs a
 * slice and an encoding rather than a system call; no byte is ever used twice.
 *
 * @example
 * import { randomToken } from 'leaselock'
 * assert.strictEqual(randomToken().length, 22)
 *
 * @since 0.1.0
 */
export const randomToken = (): string => {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const token = pool.toString('base64url', offset, offset + TOKEN_BYTES)
  offset += TOKEN_BYTES
  return token
}

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
