/**
 * What `queue.ts` and its worker processes (`queueWorker.ts`) tell each
 * other, and the clock they share.
 *
 * @since 0.3.0
 */

/**
 * Parent to worker: connect to `url` (once), run a round (`count`
 * acquisitions of `key` at once, each released as soon as granted), or stop.
 *
 * @since 0.3.0
 */
export type ToQueueWorker =
  | { readonly type: 'setup'; readonly url: string }
  | { readonly type: 'round'; readonly key: string; readonly count: number; readonly ttlMs: number; readonly timeoutMs: number }
  | { readonly type: 'stop' }

/**
 * Worker to parent: connected and warm (`ready`), a round's acquisitions all
 * started (`launched`), a round done (`done`: when its last lease was
 * released, on {@link sharedNow}), or a failure.
 *
 * @since 0.3.0
 */
export type FromQueueWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'launched' }
  | { readonly type: 'done'; readonly served: number; readonly failed: number; readonly lastReleasedAt: number }
  | { readonly type: 'failed'; readonly error: string }

/**
 * Milliseconds on the machine's monotonic clock, which all processes share.
 *
 * @example
 * import { sharedNow } from './queueProtocol.js'
 * const t0 = sharedNow()
 * assert.ok(sharedNow() >= t0)
 *
 * @since 0.3.0
 */
export const sharedNow = (): number => Number(process.hrtime.bigint()) / 1e6
