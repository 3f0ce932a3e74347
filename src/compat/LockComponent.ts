/**
 * The base of the Pip.Services-style lock classes (`RedisLock`,
 * `MemcachedLock`): `configure`, `setReferences`, `open`, `close`, `isOpen`,
 * `tryAcquireLock`, `acquireLock`, `releaseLock` as Promise methods over the
 * functional core. A backend subclass supplies two things: how to decode its
 * `options.*`, and how to connect.
 *
 * Every error thrown is a {@link LockException} with a `code`
 * (`LOCK_TIMEOUT`, `NOT_OPENED`, `NO_CONNECTION`, `INVALID_CONFIG`,
 * `INVALID_ARGUMENT`, `DRIVER_FAILURE`, `NOT_REPLICATED`, `ABORTED`) and the
 * trace id of the call's context.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { pipe } from 'fp-ts/lib/function.js'
import { Environment, liveEnvironment } from '../Environment.js'
import type { Lease } from '../Lease.js'
import { Lock, makeLock } from '../Lock.js'
import { LockError, LockException, aborted, connectFailed, driverFailure, noConnection, notOpened } from '../LockError.js'
import { RetryPolicy, constantDelay, fullJitter } from '../RetryPolicy.js'
import type { Store } from '../Store.js'
import { unsupported } from '../Inspection.js'
import { Permits, makePermits } from '../permits/Permits.js'
import type { PermitStore } from '../permits/PermitStore.js'
import { validateKey } from '../validate.js'
import type { ConfigParams } from '../config/ConfigParams.js'
import { defaultCommandTimeoutMs, defaultConnectTimeoutMs } from '../config/options.js'
import { LockReferences, PipReferences, resolveConnections, resolveCredential, toLockReferences } from '../config/references.js'
import { ComponentSettings, ConfiguredSettings, decodeSettings, describeConnection } from '../config/settings.js'
import { Context, traceIdOf } from './Context.js'
import { withDeadline } from './deadline.js'
import { track } from './inFlight.js'

export type { Context } from './Context.js'

/**
 * What a subclass's `connect` returns: a store over the open connection(s),
 * and how to close them.
 *
 * @example
 * import { Backend } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * const backend: Backend = { store: memoryStore(), close: async () => {} }
 *
 * @since 0.1.0
 */
export interface Backend {
  readonly store: Store
  readonly close: () => Promise<void>
  /** Semaphores and read-write locks over the same connection, when the backend has them (see `SemaphoreComponent`). */
  readonly permits?: PermitStore
}

/**
 * The options the base class reads: `retryTimeoutMs` always; the deadlines
 * when present (see {@link genericOptionSpecs}), else their defaults.
 *
 * @example
 * import { BaseOptions } from 'leaselock'
 * const options: BaseOptions = { retryTimeoutMs: 100 }
 *
 * @since 0.1.0
 */
export interface BaseOptions {
  readonly retryTimeoutMs: number
  readonly connectTimeoutMs?: number
  readonly commandTimeoutMs?: number
}

interface Session {
  readonly backend: Backend
  readonly lock: Lock
  /** The permits engine over the backend's permit store, with the lock's environment and retry policy. */
  readonly permits: E.Either<LockError, Permits>
  /** What this instance holds, by key: the only leases `releaseLock` releases. */
  readonly held: Map<string, Lease>
  /** Acquisitions under way (settled, never rejecting): `close` waits for them, so that what lands meanwhile is given back before the backend closes. */
  readonly acquiring: Set<Promise<void>>
  /** Aborted by `close`, so that waiting `acquireLock` calls stop. */
  readonly closing: AbortController
  /** How long `close` waits for the releases. */
  readonly commandTimeoutMs: number
  /** The connections, as errors name them. */
  readonly target: string
}

const CLOSED = 'the lock component was closed'

/**
 * How `acquireLock` waits between attempts: `retryTimeoutMs` with full jitter
 * (uniform in [0, retryTimeoutMs) from `random`), but at least 1 ms, so that a
 * waiting `acquireLock` on a store that answers at once (the memory store)
 * still yields to the event loop between attempts.
 *
 * @example
 * import { componentRetryPolicy, defaultRetryStatus } from 'leaselock'
 * import * as O from 'fp-ts/lib/Option.js'
 * assert.deepStrictEqual(componentRetryPolicy(() => 0.5)(100)(defaultRetryStatus), O.some(50))
 * assert.deepStrictEqual(componentRetryPolicy(() => 0)(100)(defaultRetryStatus), O.some(1))
 *
 * @since 0.1.0
 */
export const componentRetryPolicy =
  (random: () => number) =>
  (retryTimeoutMs: number): RetryPolicy =>
  (status) =>
    O.map((delay: number) => Math.max(1, delay))(fullJitter(random)(constantDelay(retryTimeoutMs))(status))

/**
 * Subclass it with a backend:
 *
 * - `decodeOptions(params)` decodes `options.*` (reuse {@link optionsDecoder}
 *   with {@link genericOptionSpecs} and add your own specs); error strings name
 *   the key and the value.
 * - `connect(settings, traceId)` opens the connection(s) described by
 *   `settings` (discovery and credential keys already resolved) and returns a
 *   {@link Backend}, or a `LockError`.
 *
 * Behaviour:
 * - `configure` decodes and checks everything at once (`INVALID_CONFIG` naming
 *   every bad key and value); it takes effect at the next `open`.
 * - `open` resolves `discovery_key`s and `store_key`s through the references,
 *   fails with `NO_CONNECTION` when no connection is configured, calls
 *   `connect`, and settles within `options.connect_timeout` (a connection that
 *   arrives later is closed). Opening an open component does nothing.
 * - Each acquisition gets its own token; the instance remembers the lease it
 *   holds for each key, and `releaseLock(key)` releases only that lease. A key
 *   this instance does not hold, or whose lease expired or was taken, is a
 *   quiet no-op; a transport failure throws (and the lease is kept, so the
 *   release can be retried).
 * - `acquireLock` retries every `options.retry_timeout` ms with full jitter
 *   (see {@link componentRetryPolicy})
 *   until its timeout (0 = one attempt), then throws `LOCK_TIMEOUT`.
 * - `close` stops waiting `acquireLock` calls (`ABORTED`), releases the leases
 *   this instance holds and gives back those that land while it closes (the
 *   acquisition that took one throws `ABORTED`), concurrently, best effort,
 *   for at most `options.command_timeout`; then it closes the backend.
 *   Afterwards every operation throws `NOT_OPENED`; closing again does nothing.
 *
 * Deadlines run on the clock of the environment given to the constructor.
 *
 * @example
 * import { LockComponent, Backend, ComponentSettings, ConfigParams, decodeGenericOptions, GenericOptions } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 * import * as E from 'fp-ts/lib/Either.js'
 *
 * class MemoryLock extends LockComponent<GenericOptions> {
 *   protected decodeOptions(params: ConfigParams) { return decodeGenericOptions(params) }
 *   protected async connect(_settings: ComponentSettings<GenericOptions>) {
 *     return E.right<never, Backend>({ store: memoryStore(), close: async () => {} })
 *   }
 * }
 * const lock = new MemoryLock()
 * lock.configure(ConfigParams.fromTuples('host', 'localhost', 'port', 1))
 * await lock.open('123')
 * await lock.acquireLock('123', 'key1', 3000, 1000)
 * try {
 *   // Processing...
 * } finally {
 *   await lock.releaseLock('123', 'key1')
 * }
 * await lock.close('123')
 *
 * @since 0.1.0
 */
export abstract class LockComponent<O extends BaseOptions> {
  private readonly env: Environment
  private settings: ConfiguredSettings<O> | undefined
  private references: LockReferences = {}
  private session: Session | undefined
  private opening: Promise<void> | undefined
  private closing: Promise<void> | undefined

  constructor(env: Environment = liveEnvironment) {
    this.env = env
  }

  /** Decodes the backend's `options.*`; error strings name the key and the value. */
  protected abstract decodeOptions(params: ConfigParams): E.Either<ReadonlyArray<string>, O>

  /** Opens the backend described by `settings` (references already resolved). */
  protected abstract connect(
    settings: ComponentSettings<O>,
    traceId: string | undefined
  ): Promise<E.Either<LockError, Backend>>

  /**
   * Takes a {@link ConfigParams}, a flat map with dotted keys, a nested object,
   * or a Pip.Services `ConfigParams`. Throws `INVALID_CONFIG` listing every
   * bad key and value; takes effect at the next `open`.
   */
  configure(config: ConfigParams | Record<string, unknown>): void {
    this.settings = this.decode(config)
  }

  /**
   * Takes {@link LockReferences} (`{ discovery, credentials }`) or a
   * Pip.Services references object (see {@link fromPipReferences}). Throws
   * `INVALID_CONFIG` when a resolver is not a function.
   */
  setReferences(references: LockReferences | PipReferences): void {
    this.references = pipe(
      toLockReferences(references),
      E.getOrElseW((e) => {
        throw new LockException(e)
      })
    )
  }

  /** Whether `open` has completed and `close` has not been called since. */
  isOpen(): boolean {
    return this.session !== undefined
  }

  /**
   * Resolves references and connects. Throws `NO_CONNECTION` when no
   * connection is configured, `INVALID_CONFIG` when a reference cannot be
   * resolved, or the backend's error; within `options.connect_timeout`.
   */
  async open(context?: Context): Promise<void> {
    if (this.closing !== undefined) await this.closing.catch(() => undefined)
    if (this.session !== undefined) return
    if (this.opening === undefined) {
      this.opening = this.start(traceIdOf(context)).finally(() => {
        this.opening = undefined
      })
    }
    return this.opening
  }

  /**
   * Releases the leases this instance holds (best effort, bounded by
   * `options.command_timeout`), then closes the backend. Closing a closed
   * component does nothing.
   */
  async close(context?: Context): Promise<void> {
    if (this.opening !== undefined) await this.opening.catch(() => undefined)
    if (this.closing !== undefined) return this.closing
    const session = this.session
    if (session === undefined) return
    this.session = undefined
    this.closing = this.stop(session, traceIdOf(context)).finally(() => {
      this.closing = undefined
    })
    return this.closing
  }

  /** One attempt: `true` if the lock was taken for `ttl` ms, `false` if someone holds it. */
  async tryAcquireLock(context: Context, key: string, ttl: number): Promise<boolean> {
    const traceId = traceIdOf(context)
    const session = this.current(traceId)
    return track(session.acquiring, async () => {
      const result = await session.lock.tryAcquire(key, ttl)()
      if (E.isLeft(result)) throw new LockException(result.left, traceId)
      if (O.isNone(result.right)) return false
      await this.keep(session, result.right.value, traceId)
      return true
    })
  }

  /**
   * Tries until `timeout` ms have passed (0 = one attempt), waiting
   * `options.retry_timeout` with full jitter between attempts. Throws
   * `LOCK_TIMEOUT` ("Acquiring lock <key> failed on timeout (<n> attempts in <ms> ms)").
   */
  async acquireLock(context: Context, key: string, ttl: number, timeout: number): Promise<void> {
    const traceId = traceIdOf(context)
    const session = this.current(traceId)
    return track(session.acquiring, async () => {
      const result = await session.lock.acquire(key, ttl, timeout, { signal: session.closing.signal, confirmed: true })()
      if (E.isLeft(result)) throw new LockException(result.left, traceId)
      await this.keep(session, result.right, traceId)
    })
  }

  /**
   * Releases the lease this instance holds on `key`. A key this instance does
   * not hold, or whose lease expired or was taken over, is a quiet no-op.
   */
  async releaseLock(context: Context, key: string): Promise<void> {
    const traceId = traceIdOf(context)
    const session = this.current(traceId)
    const checked = pipe(validateKey(key), E.chain(session.lock.store.checkKey))
    if (E.isLeft(checked)) throw new LockException(checked.left, traceId)
    const lease = session.held.get(key)
    if (lease === undefined) return
    const result = await session.lock.release(lease)()
    if (E.isLeft(result) && result.left._tag !== 'NotHeld') throw new LockException(result.left, traceId)
    if (session.held.get(key) === lease) session.held.delete(key)
  }

  /** The functional core behind the class, for `TaskEither` users: `NotOpened` before `open` and after `close`. */
  lock(): E.Either<LockError, Lock> {
    return this.session === undefined ? E.left(notOpened) : E.right(this.session.lock)
  }

  /**
   * The permits engine over the same connection (semaphores, read-write
   * locks; see `SemaphoreComponent`), with the lock's retry policy:
   * `NotOpened` before `open` and after `close`, `Unsupported` for a backend
   * without permits.
   */
  permits(): E.Either<LockError, Permits> {
    return this.session === undefined ? E.left(notOpened) : this.session.permits
  }

  private decode(config: unknown, traceId?: string): ConfiguredSettings<O> {
    return pipe(
      decodeSettings((params) => this.decodeOptions(params))(config),
      E.getOrElseW((e) => {
        throw new LockException(e, traceId)
      })
    )
  }

  private current(traceId: string | undefined): Session {
    if (this.session === undefined) throw new LockException(notOpened, traceId)
    return this.session
  }

  /** Records a new lease; one that lands after `close` is given back at once (before the backend closes). */
  private async keep(session: Session, lease: Lease, traceId: string | undefined): Promise<void> {
    if (session === this.session) {
      session.held.set(lease.key, lease)
      return
    }
    await session.lock.release(lease)()
    throw new LockException(aborted(lease.key, CLOSED), traceId)
  }

  private async start(traceId: string | undefined): Promise<void> {
    const settings = this.settings ?? this.decode({}, traceId)
    if (settings.connections.length === 0) throw new LockException(noConnection, traceId)
    const deadlineMs = settings.options.connectTimeoutMs ?? defaultConnectTimeoutMs
    const target = settings.connections.map(describeConnection).join(', ')
    const onTimeout = (): E.Either<LockError, Backend> =>
      E.left(connectFailed(target, new Error(`open did not complete within ${deadlineMs} ms`)))
    const closeLate = (late: E.Either<LockError, Backend>): void => {
      if (E.isRight(late)) void late.right.close().catch(() => undefined)
    }
    const backend = await withDeadline(
      this.env.clock,
      deadlineMs,
      onTimeout,
      closeLate
    )(this.resolveAndConnect(settings, traceId).catch((cause: unknown) => E.left(connectFailed(target, cause))))
    if (E.isLeft(backend)) throw new LockException(backend.left, traceId)
    const retry = componentRetryPolicy(this.env.random)(settings.options.retryTimeoutMs)
    this.session = {
      backend: backend.right,
      lock: makeLock(backend.right.store, { env: this.env, retry }),
      permits:
        backend.right.permits === undefined
          ? E.left(unsupported(backend.right.store.name, 'permits', 'this deployment keeps no permits (a quorum of independent servers)'))
          : E.right(makePermits(backend.right.permits, { env: this.env, retry })),
      held: new Map(),
      acquiring: new Set(),
      closing: new AbortController(),
      commandTimeoutMs: settings.options.commandTimeoutMs ?? defaultCommandTimeoutMs,
      target
    }
  }

  private async resolveAndConnect(
    settings: ConfiguredSettings<O>,
    traceId: string | undefined
  ): Promise<E.Either<LockError, Backend>> {
    const references = this.references
    const connections = await resolveConnections(references, traceId)(settings.connections)
    if (E.isLeft(connections)) return connections
    const credential = await resolveCredential(references, traceId)(settings.credentials)
    if (E.isLeft(credential)) return credential
    const resolved: ComponentSettings<O> = {
      connections: connections.right,
      ...(credential.right === undefined ? {} : { credential: credential.right }),
      options: settings.options
    }
    return this.connect(resolved, traceId)
  }

  private async stop(session: Session, traceId: string | undefined): Promise<void> {
    session.closing.abort(CLOSED)
    const leases = [...session.held.values()]
    session.held.clear()
    await withDeadline(
      this.env.clock,
      session.commandTimeoutMs,
      () => undefined
    )(Promise.all([...leases.map((lease) => session.lock.release(lease)()), ...session.acquiring]).then(() => undefined))
    try {
      await session.backend.close()
    } catch (cause) {
      throw new LockException(driverFailure(session.target, cause, false), traceId)
    }
  }
}
