/**
 * The one shape every benchmarked lock takes, so every scenario drives ours,
 * the raw-client floors and the peers through the same code.
 *
 * @since 0.1.0
 */

/**
 * Gives the lock back.
 *
 * @since 0.1.0
 */
export type Release = () => Promise<void>

/**
 * A connected lock of one library on one backend.
 *
 * @since 0.1.0
 */
export interface Locker {
  /**
   * Takes `key` for `ttlMs`. Libraries that can wait do so for up to
   * `timeoutMs`; raw clients make one attempt. `undefined` when the lock was
   * not obtained (held by someone else, or the library gave up).
   */
  readonly acquire: (key: string, ttlMs: number, timeoutMs: number) => Promise<Release | undefined>
  /**
   * Stops taking part in a contention run: hands on whatever it keeps in
   * reserve for this process (the ring floor's turn). Lockers that keep
   * nothing have none.
   */
  readonly leave?: () => Promise<void>
  /** Closes the clients this locker opened. */
  readonly close: () => Promise<void>
}

/**
 * Which kind of contestant a locker is.
 * `ours`: leaselock; `floor`: the bare client doing the same round trips; `peer`: another library.
 *
 * @since 0.1.0
 */
export type Kind = 'ours' | 'floor' | 'peer'

/**
 * @since 0.1.0
 */
export type Backend = 'memory' | 'redis' | 'memcached'

/**
 * The compare-and-delete every Redis lock needs to release safely.
 *
 * @example
 * import { compareAndDelete } from './locker.js'
 * assert.ok(compareAndDelete.includes('DEL'))
 *
 * @since 0.1.0
 */
export const compareAndDelete =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

/**
 * Fails a release the backend did not confirm, so a broken locker cannot look fast.
 *
 * @example
 * import { mustRelease } from './locker.js'
 * mustRelease('raw', 'k', true)
 *
 * @since 0.1.0
 */
export const mustRelease = (who: string, key: string, released: boolean): void => {
  if (!released) throw new Error(`${who}: release of ${key} was refused`)
}
