/**
 * Semaphores and read-write locks with the Pip.Services component API, over
 * any lock component's configuration and connection.
 *
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import type { ConfigParams } from '../config/ConfigParams.js'
import type { LockReferences, PipReferences } from '../config/references.js'
import { LockError, LockException, aborted } from '../LockError.js'
import { MAX_PERMITS, Permit, Permits } from '../permits/Permits.js'
import { Context, traceIdOf } from './Context.js'
import { track } from './inFlight.js'
import type { BaseOptions, LockComponent } from './LockComponent.js'

const CLOSED = 'the semaphore component was closed'

/**
 * A semaphore and read-write lock component: configured, referenced, opened
 * and closed exactly like the lock component it wraps (the same keys:
 * connection, credentials, `options.retry_timeout` as the delay between
 * attempts, `options.command_timeout`, …), with Promise methods that throw
 * {@link LockException}s carrying a `code` (`LOCK_TIMEOUT`, `NOT_OPENED`,
 * `INVALID_ARGUMENT`, `DRIVER_FAILURE`, `ABORTED`, `UNSUPPORTED` on a backend
 * without permits) and the context's trace id.
 *
 * - `tryAcquirePermit` answers the permit or `undefined`; `acquirePermit`,
 *   `acquireReadLock` and `acquireWriteLock` wait in the key's FIFO queue
 *   until their timeout (0 = one attempt), then throw `LOCK_TIMEOUT`.
 * - `releasePermit(permit)` releases one permit; one that expired is a quiet
 *   no-op, as `releaseLock` is.
 * - `close` stops waiting acquisitions (`ABORTED`), releases the permits this
 *   instance holds, then closes the connection.
 *
 * `leaselock/redis` exports `RedisSemaphore`, this component over `RedisLock`.
 *
 * @example
 * import { SemaphoreComponent, ConfigParams } from 'leaselock'
 * import { RedisLock } from 'leaselock/redis'
 *
 * const semaphore = new SemaphoreComponent(new RedisLock())
 * semaphore.configure(ConfigParams.fromTuples('host', 'localhost', 'port', Number(process.env.REDIS_PORT ?? 6379)))
 * await semaphore.open('123')
 * const permit = await semaphore.acquirePermit('123', 'api:quota', 3, 10_000, 1_000)
 * await semaphore.releasePermit('123', permit)
 * await semaphore.close('123')
 *
 * @since 0.4.0
 */
export class SemaphoreComponent {
  private readonly held = new Map<string, Permit>()
  /** Acquisitions under way (settled, never rejecting): `close` waits for them, so that a permit landing meanwhile is given back. */
  private readonly acquiring = new Set<Promise<void>>()
  private closing = new AbortController()

  constructor(private readonly component: LockComponent<BaseOptions>) {}

  /** As the wrapped component's `configure`: takes effect at the next `open`. */
  configure(config: ConfigParams | Record<string, unknown>): void {
    this.component.configure(config)
  }

  /** As the wrapped component's `setReferences`. */
  setReferences(references: LockReferences | PipReferences): void {
    this.component.setReferences(references)
  }

  /** Whether `open` has completed and `close` has not been called since. */
  isOpen(): boolean {
    return this.component.isOpen()
  }

  /** Connects (see the wrapped component's `open`). */
  async open(context?: Context): Promise<void> {
    await this.component.open(context)
    if (this.closing.signal.aborted) this.closing = new AbortController()
  }

  /** Stops waiting acquisitions, releases the permits this instance holds (and those landing meanwhile), and closes the connection. */
  async close(context?: Context): Promise<void> {
    this.closing.abort(CLOSED)
    await Promise.all(this.acquiring)
    const permits = this.component.permits()
    const held = [...this.held.values()]
    this.held.clear()
    if (E.isRight(permits)) await Promise.all(held.map((p) => permits.right.release(p)()))
    await this.component.close(context)
  }

  /** One attempt at a permit of `key` under `limit`: the permit, or `undefined` when none is free (or others queue ahead). */
  tryAcquirePermit(context: Context, key: string, limit: number, ttl: number): Promise<Permit | undefined> {
    return track(this.acquiring, async () => {
      const result = await this.run(context, (permits) => permits.tryAcquire(key, 1, limit, ttl)())
      return O.isSome(result) ? this.keep(context, result.value) : undefined
    })
  }

  /** Waits up to `timeout` ms for a permit of `key` under `limit`. */
  acquirePermit(context: Context, key: string, limit: number, ttl: number, timeout: number): Promise<Permit> {
    return this.waitFor(context, (permits, signal) => permits.acquire(key, 1, limit, ttl, timeout, { signal })())
  }

  /** Waits up to `timeout` ms for a read lease of `key` (many readers, or one writer). */
  acquireReadLock(context: Context, key: string, ttl: number, timeout: number): Promise<Permit> {
    return this.waitFor(context, (permits, signal) => permits.acquire(key, 1, MAX_PERMITS, ttl, timeout, { signal })())
  }

  /** Waits up to `timeout` ms for the write lease of `key`. */
  acquireWriteLock(context: Context, key: string, ttl: number, timeout: number): Promise<Permit> {
    return this.waitFor(context, (permits, signal) => permits.acquire(key, MAX_PERMITS, MAX_PERMITS, ttl, timeout, { signal })())
  }

  /** Releases a permit or lease; one that expired or was never this instance's is a quiet no-op. */
  async releasePermit(context: Context, permit: Permit): Promise<void> {
    await this.run(context, async (permits) => {
      const released = await permits.release(permit)()
      return E.isLeft(released) && released.left._tag === 'NotHeld' ? E.right(undefined) : released
    })
    if (this.held.get(permit.token) === permit) this.held.delete(permit.token)
  }

  /** The permits engine behind the class, for `TaskEither` users (see `LockComponent.permits`). */
  permits(): E.Either<LockError, Permits> {
    return this.component.permits()
  }

  private async run<A>(context: Context, f: (permits: Permits) => Promise<E.Either<LockError, A>>): Promise<A> {
    const permits = this.component.permits()
    const result = E.isLeft(permits) ? permits : await f(permits.right)
    if (E.isLeft(result)) throw new LockException(result.left, traceIdOf(context))
    return result.right
  }

  private waitFor(context: Context, f: (permits: Permits, signal: AbortSignal) => Promise<E.Either<LockError, Permit>>): Promise<Permit> {
    const signal = this.closing.signal
    return track(this.acquiring, async () => this.keep(context, await this.run(context, (permits) => f(permits, signal))))
  }

  /** Records a permit; one that lands after `close` began is given back and reported `ABORTED`. */
  private async keep(context: Context, permit: Permit): Promise<Permit> {
    if (!this.closing.signal.aborted) {
      this.held.set(permit.token, permit)
      return permit
    }
    await this.run(context, (permits) => permits.release(permit)())
    throw new LockException(aborted(permit.key, CLOSED), traceIdOf(context))
  }
}
