import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { connectRedis, redisStore } from '../adapters/redis.js'
import { memoryStore } from '../adapters/memory.js'
import { instrument } from '../adapters/otel.js'
import { ManualClock } from '../src/Clock.js'
import { channels } from '../src/Diagnostics.js'
import { randomToken } from '../src/Environment.js'
import { keepAlive } from '../src/KeepAlive.js'
import type { Lease } from '../src/Lease.js'
import { makeLock } from '../src/Lock.js'
import { LockError, message } from '../src/LockError.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { Store } from '../src/Store.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep } from './support/expect.js'

let server: RedisServer
const connections: RedisConnection[] = []
const connect = async (): Promise<RedisConnection> => {
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2_000, commandTimeoutMs: 2_000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  connections.push(r.right)
  return r.right
}
const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
  if (E.isLeft(r)) throw new Error(`expected a lease, got ${message(r.left)}`)
  return r.right
}

/** Everything published on the library's channels while `run` runs. */
const recorded = async (run: () => Promise<void>): Promise<Array<{ channel: string; event: Record<string, unknown> }>> => {
  const seen: Array<{ channel: string; event: Record<string, unknown> }> = []
  const plain = ['leaselock:handoff', 'leaselock:lost', 'leaselock:giveback'].map((name) => [name, (m: unknown) => seen.push({ channel: name, event: { ...(m as object) } })] as const)
  const traced = (['acquire', 'release', 'extend'] as const).map((name) => {
    const ignore = (): void => undefined
    const handlers = {
      start: (m: unknown) => seen.push({ channel: `leaselock:${name}:start`, event: { ...(m as object) } }),
      end: ignore,
      asyncStart: ignore,
      asyncEnd: (m: unknown) => seen.push({ channel: `leaselock:${name}:asyncEnd`, event: { ...(m as object) } }),
      error: ignore
    }
    channels[name].subscribe(handlers)
    return () => channels[name].unsubscribe(handlers)
  })
  for (const [name, f] of plain) subscribe(name, f)
  try {
    await run()
  } finally {
    for (const [name, f] of plain) unsubscribe(name, f)
    for (const off of traced) off()
  }
  return seen
}

const S = suite('diagnostics_channel events and OpenTelemetry')

S.before(async () => {
  server = await startRedis()
})
S.after(async () => {
  await Promise.all(connections.map((c) => c.close()))
  await server.stop()
})

S('a real acquire, wait, handoff, lost lease, timeout and release publish their events, in order, with key, backend, outcome, attempts, time waited and fence', async () => {
  const k = `diag-${randomToken()}`
  const admin = await connect()
  const a = makeLock(redisStore(admin.driver))
  const b = makeLock(redisStore((await connect()).driver), { retry: constantDelay(10_000) })
  let holder: Lease | undefined
  let handed: Lease | undefined
  const seen = await recorded(async () => {
    holder = leaseOf(await a.acquire(k, 10_000, 0)())
    const waiting = b.acquire(k, 300, 5_000)()
    await sleep(50)
    // On a loaded machine the waiter may still be subscribing: release once it is queued, so the key is handed over.
    for (let i = 0; i < 400; i++) {
      const queued = await admin.driver.send(['ZCARD', `{${k}}:queue`])()
      if (E.isRight(queued) && queued.right === 2) break
      await sleep(5)
    }
    await a.release(holder)()
    handed = leaseOf(await waiting)
    const keeper = keepAlive(b, handed, { autoRenew: false })
    await sleep(400)
    await keeper.stop()
    assert.equal((await a.tryAcquire(`${k}:free`, 1_000)())._tag, 'Right')
  })
  const names = seen.map((s) => s.channel)
  assert.equal(names.slice(0, 4), ['leaselock:acquire:start', 'leaselock:acquire:asyncEnd', 'leaselock:acquire:start', 'leaselock:release:start'])
  // The release's reply and the waiter's notification travel on different connections: either may come first.
  assert.equal(names.slice(4, 7).sort(), ['leaselock:acquire:asyncEnd', 'leaselock:handoff', 'leaselock:release:asyncEnd'])
  const first = seen[1]!.event
  assert.equal({ key: first.key, backend: first.backend, operation: first.operation, outcome: first.outcome, attempts: first.attempts, fence: first.fence }, { key: k, backend: 'redis', operation: 'acquire', outcome: 'acquired', attempts: 1, fence: holder!.fence })
  const handoff = seen.find((s) => s.channel === 'leaselock:handoff')!.event
  // Early unless the notification came too late to prove half the claim window (a loaded machine): both are handoffs.
  assert.equal({ ...handoff, early: true }, { key: k, backend: 'redis', fence: handed!.fence, early: true })
  assert.type(handoff.early, 'boolean')
  const waited = seen.filter((s) => s.channel === 'leaselock:acquire:asyncEnd')[1]!.event
  assert.is(waited.outcome, 'acquired')
  assert.ok(typeof waited.waitedMs === 'number' && waited.waitedMs >= 40, `waited ${String(waited.waitedMs)} ms`)
  const lost = seen.find((s) => s.channel === 'leaselock:lost')
  assert.equal(lost?.event, { key: k, fence: handed!.fence, why: 'expired' })
  const release = seen.find((s) => s.channel === 'leaselock:release:asyncEnd')!.event
  assert.equal([release.outcome, release.fence], ['released', holder!.fence])
  const last = seen[seen.length - 1]!.event
  assert.equal([last.operation, last.outcome], ['tryAcquire', 'acquired'])
})

S('a timeout, a refused release and a grant spent on arrival are told as such', async () => {
  const clock = new ManualClock()
  const base = memoryStore({ clock, handoff: false })
  let slow = false
  const store: Store = {
    ...base,
    acquire: (key, token, ttl) => async () => {
      const r = await base.acquire(key, token, ttl)()
      if (slow) clock.advance(ttl)
      return r
    }
  }
  const lock = makeLock(store, { env: { clock, random: () => 0, token: randomToken }, retry: constantDelay(0) })
  const seen = await recorded(async () => {
    const held = leaseOf(await lock.acquire('k', 1_000, 0)())
    assert.ok(E.isLeft(await lock.acquire('k', 1_000, 0)()))
    clock.advance(2_000)
    assert.ok(E.isLeft(await lock.release(held)()))
    slow = true
    assert.equal(await lock.tryAcquire('s', 100)(), E.right({ _tag: 'None' }))
  })
  const ends = seen.filter((s) => s.channel.endsWith(':asyncEnd')).map((s) => s.event)
  assert.equal(ends.map((e) => e.outcome), ['acquired', 'LOCK_TIMEOUT', 'NOT_HELD', 'held'])
  assert.is(ends[1]!.attempts, 1)
  assert.ok((ends[1]!.error as LockError)._tag === 'Timeout')
  assert.equal(seen.find((s) => s.channel === 'leaselock:giveback')?.event, { key: 's', backend: 'memory', reason: 'spent' })
})

S('nothing is published, and nothing built, when nobody subscribes', async () => {
  assert.not.ok(channels.acquire.start.hasSubscribers || channels.handoff.hasSubscribers || channels.lost.hasSubscribers)
  const lock = makeLock(memoryStore())
  assert.equal((await lock.tryAcquire('quiet', 1_000)())._tag, 'Right')
})

S('leaselock/otel records spans and metrics of a real lock through the OpenTelemetry SDK', async () => {
  const exporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  class Reader extends MetricReader {
    protected override onForceFlush = async (): Promise<void> => undefined
    protected override onShutdown = async (): Promise<void> => undefined
  }
  const reader = new Reader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const stop = instrument({ tracer: tracerProvider.getTracer('test'), meter: meterProvider.getMeter('test') })
  const k = `otel-${randomToken()}`
  try {
    const lock = makeLock(redisStore((await connect()).driver), { retry: constantDelay(20) })
    const lease = leaseOf(await lock.acquire(k, 5_000, 0)())
    assert.ok(E.isLeft(await lock.acquire(k, 5_000, 50)()))
    await lock.release(lease)()
  } finally {
    stop()
  }
  const spans = exporter.getFinishedSpans()
  assert.equal(spans.map((s) => [s.name, s.attributes['leaselock.outcome']]), [
    ['leaselock.acquire', 'acquired'],
    ['leaselock.acquire', 'LOCK_TIMEOUT'],
    ['leaselock.release', 'released']
  ])
  assert.is(spans[0]!.attributes['leaselock.key'], k)
  assert.is(spans[0]!.attributes['leaselock.backend'], 'redis')
  assert.is(spans[1]!.status.code, 2, 'a timeout is an error span')
  assert.ok(Number(spans[1]!.attributes['leaselock.attempts']) >= 2)
  const { resourceMetrics } = await reader.collect()
  const metrics = new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m.dataPoints] as const))
  assert.is((metrics.get('leaselock.acquire.timeouts')?.[0]?.value as number | undefined) ?? 0, 1)
  const durations = metrics.get('leaselock.acquire.duration') ?? []
  assert.is(durations.reduce((n, p) => n + (p.value as { count: number }).count, 0), 2)
  await tracerProvider.shutdown()
  await meterProvider.shutdown()
})

S.run()
