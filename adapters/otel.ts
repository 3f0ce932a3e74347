/**
 * OpenTelemetry for leaselock: spans and metrics recorded from the library's
 * `node:diagnostics_channel` events (see `Diagnostics`), through
 * `@opentelemetry/api` (an optional peer dependency of `leaselock/otel`).
 *
 * @since 0.2.0
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Attributes, Meter, Span, SpanStatusCode, Tracer, context, metrics, trace } from '@opentelemetry/api'
import { AcquireEvent, LeaseEvent, channels } from '../src/Diagnostics.js'

/**
 * @example
 * import { trace, metrics } from '@opentelemetry/api'
 * import { InstrumentOptions } from 'leaselock/otel'
 * const options: InstrumentOptions = { tracer: trace.getTracer('my-app'), meter: metrics.getMeter('my-app') }
 *
 * @since 0.2.0
 */
export interface InstrumentOptions {
  /** The tracer spans go to; the global tracer provider's `leaselock` tracer by default. */
  readonly tracer?: Tracer
  /** The meter metrics go to; the global meter provider's `leaselock` meter by default. */
  readonly meter?: Meter
}

const SUCCESS = new Set(['acquired', 'held', 'released', 'extended'])

const attributesOf = (e: AcquireEvent | LeaseEvent): Attributes => {
  const a: Attributes = { 'leaselock.key': e.key, 'leaselock.backend': e.backend, 'leaselock.operation': e.operation }
  if (e.outcome !== undefined) a['leaselock.outcome'] = e.outcome
  if (e.fence !== undefined) a['leaselock.fence'] = String(e.fence)
  if ('attempts' in e && e.attempts !== undefined) a['leaselock.attempts'] = e.attempts
  if ('waitedMs' in e && e.waitedMs !== undefined) a['leaselock.waited_ms'] = Math.round(e.waitedMs)
  return a
}

/**
 * Starts recording; the function it returns stops. Spans: `leaselock.acquire`
 * (also for `tryAcquire`), `leaselock.release`, `leaselock.extend`, with the
 * key, backend, outcome, attempts, time waited and fence as attributes and an
 * error status for a failure. Metrics: `leaselock.acquire.duration` and
 * `leaselock.acquire.wait` histograms (ms), and counters
 * `leaselock.acquire.timeouts`, `leaselock.leases.lost`,
 * `leaselock.handoffs` and `leaselock.givebacks`.
 *
 * @example
 * import { instrument } from 'leaselock/otel'
 * import { makeLock } from 'leaselock'
 * import { memoryStore } from 'leaselock/memory'
 *
 * const stop = instrument()
 * const lock = makeLock(memoryStore())
 * await lock.tryAcquire('traced', 1_000)()
 * stop()
 *
 * @since 0.2.0
 */
export const instrument = (options: InstrumentOptions = {}): (() => void) => {
  const tracer = options.tracer ?? trace.getTracer('leaselock')
  const meter = options.meter ?? metrics.getMeter('leaselock')
  const duration = meter.createHistogram('leaselock.acquire.duration', { unit: 'ms', description: 'How long acquire and tryAcquire took' })
  const wait = meter.createHistogram('leaselock.acquire.wait', { unit: 'ms', description: 'How long acquire waited for the key' })
  const timeouts = meter.createCounter('leaselock.acquire.timeouts', { description: 'Acquisitions that gave up on timeout' })
  const lost = meter.createCounter('leaselock.leases.lost', { description: 'Leases whose keeper signalled them lost' })
  const handoffs = meter.createCounter('leaselock.handoffs', { description: 'Keys handed to a waiter by a release' })
  const givebacks = meter.createCounter('leaselock.givebacks', { description: 'Grants given back (outcome unknown, spent on arrival, after an abort)' })

  const spans = new WeakMap<object, { readonly span: Span; readonly startedAt: number }>()
  const ignore = (): void => undefined
  const traceOf = (name: string) => ({
    end: ignore,
    asyncStart: ignore,
    error: ignore,
    start: (message: unknown) => {
      const e = message as AcquireEvent | LeaseEvent
      spans.set(e, { span: tracer.startSpan(name, { attributes: attributesOf(e) }, context.active()), startedAt: performance.now() })
    },
    asyncEnd: (message: unknown) => {
      const e = message as AcquireEvent | LeaseEvent
      const started = spans.get(e)
      if (started === undefined) return
      spans.delete(e)
      const { span } = started
      span.setAttributes(attributesOf(e))
      if (e.outcome !== undefined && !SUCCESS.has(e.outcome)) span.setStatus({ code: SpanStatusCode.ERROR, message: e.outcome })
      span.end()
      if (e.operation === 'acquire' || e.operation === 'tryAcquire') {
        const labels = { 'leaselock.backend': e.backend, 'leaselock.outcome': e.outcome ?? 'unknown' }
        duration.record(performance.now() - started.startedAt, labels)
        if (e.operation === 'acquire' && e.waitedMs !== undefined) wait.record(e.waitedMs, labels)
        if (e.outcome === 'LOCK_TIMEOUT') timeouts.add(1, { 'leaselock.backend': e.backend })
      }
    }
  })
  const traced = [
    [channels.acquire, traceOf('leaselock.acquire')],
    [channels.release, traceOf('leaselock.release')],
    [channels.extend, traceOf('leaselock.extend')]
  ] as const
  const plain = [
    ['leaselock:lost', () => lost.add(1)],
    ['leaselock:handoff', (m: unknown) => handoffs.add(1, { 'leaselock.backend': (m as { backend: string }).backend })],
    ['leaselock:giveback', (m: unknown) => givebacks.add(1, { 'leaselock.reason': (m as { reason: string }).reason })]
  ] as const
  for (const [tc, handlers] of traced) tc.subscribe(handlers)
  for (const [name, onMessage] of plain) subscribe(name, onMessage)
  return () => {
    for (const [tc, handlers] of traced) tc.unsubscribe(handlers)
    for (const [name, onMessage] of plain) unsubscribe(name, onMessage)
  }
}
