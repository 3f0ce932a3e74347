import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { randomToken } from '../src/Environment.js'
import { makeReadWriteLock } from '../src/permits/ReadWriteLock.js'
import { makeSemaphore } from '../src/permits/Semaphore.js'
import { connectRedis } from '../adapters/node-redis.js'
import { redisPermitStore } from '../src/redis/redisPermitStore.js'
import { constantDelay } from '../src/RetryPolicy.js'
import type { PermitReport, PermitSection, PermitTask } from './support/permitWorker.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { runWorkers } from './support/workers.js'
import './support/noUnhandled.js'

const PERMIT_WORKER = fileURLToPath(new URL(`./support/permitWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))

/** The most sections inside at one instant, and the instants where a writer shared the time with anyone. */
const sweep = (sections: ReadonlyArray<PermitSection>): { readonly most: number; readonly writerOverlaps: number } => {
  const events = sections.flatMap((s, i) => [
    { at: s.start, delta: 1, i },
    { at: s.end, delta: -1, i }
  ])
  // Ends before starts at the same instant: touching sections do not overlap.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta)
  const inside = new Set<number>()
  let most = 0
  let writerOverlaps = 0
  for (const e of events) {
    if (e.delta < 0) inside.delete(e.i)
    else {
      inside.add(e.i)
      most = Math.max(most, inside.size)
      if (inside.size > 1 && [...inside].some((i) => sections[i]!.kind === 'write')) writerOverlaps++
    }
  }
  return { most, writerOverlaps }
}

let redis: RedisServer
const S = suite('permits across processes on a real Redis server')
S.before(async () => {
  redis = await startRedis()
})
S.after(async () => {
  await redis?.stop()
})

const base = (key: string): Omit<PermitTask, 'kind'> => ({
  backend: 'redis',
  host: redis.host,
  port: redis.port,
  key,
  limit: 3,
  iterations: 25,
  ttlMs: 10_000,
  holdMs: 3,
  timeoutMs: 30_000,
  pollMs: 10
})

S('semaphore of limit 3: 8 processes × 25 sections, never more than 3 inside at once (on the shared monotonic clock), each process served every time, every fence distinct', async () => {
  const key = `sem-${randomToken()}`
  const tasks = Array.from({ length: 8 }, (): PermitTask => ({ ...base(key), kind: 'permit' }))
  const ran = await runWorkers(tasks, 60_000, undefined, PERMIT_WORKER)
  const reports = ran.reports as unknown as ReadonlyArray<PermitReport>
  assert.equal(reports.flatMap((r) => r.errors), [], 'no worker failed')
  assert.equal(ran.exitCodes, Array(8).fill(0))
  reports.forEach((r, i) => assert.is(r.sections.length, 25, `process ${i} was served 25 times`))
  const sections = reports.flatMap((r) => r.sections)
  const { most } = sweep(sections)
  assert.ok(most <= 3, `at most 3 inside, saw ${most}`)
  assert.is(most, 3, 'the semaphore was used to its limit')
  assert.is(new Set(sections.map((s) => s.fence)).size, sections.length, 'every fence distinct')
  console.log(`    redis semaphore: ${sections.length} sections in ${ran.ms.toFixed(0)} ms, at most ${most} inside`)
})

S('read-write lock: 6 reader and 2 writer processes × 25 sections, no writer overlaps anything, readers overlap each other', async () => {
  const key = `rw-${randomToken()}`
  const tasks = Array.from({ length: 8 }, (_, i): PermitTask => ({ ...base(key), kind: i < 2 ? 'write' : 'read' }))
  const ran = await runWorkers(tasks, 60_000, undefined, PERMIT_WORKER)
  const reports = ran.reports as unknown as ReadonlyArray<PermitReport>
  assert.equal(reports.flatMap((r) => r.errors), [], 'no worker failed')
  reports.forEach((r, i) => assert.is(r.sections.length, 25, `process ${i} was served 25 times`))
  const sections = reports.flatMap((r) => r.sections)
  const { most, writerOverlaps } = sweep(sections)
  assert.is(writerOverlaps, 0, 'no writer section overlaps another section')
  assert.ok(most > 1, 'readers did share the key')
  console.log(`    redis read-write lock: ${sections.length} sections in ${ran.ms.toFixed(0)} ms, up to ${most} readers together`)
})

S('the sweep that judges these runs can fail: overlapping writers are counted', () => {
  const w = (start: number, end: number, kind: PermitSection['kind'] = 'write'): PermitSection => ({ start, end, kind, fence: `${start}` })
  assert.is(sweep([w(0, 10), w(5, 15)]).writerOverlaps, 1)
  assert.is(sweep([w(0, 10), w(10, 20)]).writerOverlaps, 0)
  assert.is(sweep([w(0, 10, 'read'), w(1, 10, 'read'), w(2, 10, 'read'), w(3, 10, 'read')]).most, 4)
})

S('Redis keys: companions in the key\'s slot, expiring with their entries; a released semaphore leaves only its counter', async () => {
  const connected = await connectRedis({ host: redis.host, port: redis.port })()
  assert.ok(E.isRight(connected))
  if (E.isLeft(connected)) return
  const { driver } = connected.right
  const semaphore = makeSemaphore(redisPermitStore(driver))
  const key = `keys-${randomToken()}`
  const p = await semaphore.acquire(key, 2, 5_000, 0)()
  assert.ok(E.isRight(p))
  const pttl = await driver.send(['PTTL', `{${key}}:holders`])()
  assert.ok(E.isRight(pttl) && typeof pttl.right === 'number' && pttl.right > 4_000 && pttl.right <= 5_000)
  if (E.isRight(p)) await semaphore.release(p.right)()
  const left = await driver.send(['KEYS', `{${key}}*`])()
  assert.equal(left, E.right([`{${key}}:permit-fence`]))
  await connected.right.close()
})

S('a late copy of a permit request never shortens the permit: an extend made since stands', async () => {
  const connected = await connectRedis({ host: redis.host, port: redis.port })()
  assert.ok(E.isRight(connected))
  if (E.isLeft(connected)) return
  const store = redisPermitStore(connected.right.driver)
  const key = `late-${randomToken()}`
  const request = { key, token: 'first', weight: 1, limit: 1, ttlMs: 100, waitMs: 0 }
  const granted = await store.acquire(request)()
  assert.ok(E.isRight(granted) && O.isSome(granted.right))
  if (E.isLeft(granted) || O.isNone(granted.right)) return
  const extended = await store.extend({ key, token: 'first', revision: granted.right.value.revision }, 60_000)()
  assert.ok(E.isRight(extended) && O.isSome(extended.right))
  const late = await store.acquire(request)()
  assert.ok(E.isRight(late) && O.isSome(late.right) && late.right.value.fence === granted.right.value.fence, 'the late copy answers the same permit')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const other = await store.acquire({ ...request, token: 'second' })()
  assert.ok(E.isRight(other) && O.isNone(other.right), 'past the copy\'s 100 ms the extended permit still holds the only place')
  await connected.right.close()
})

S('a writer waiting on Redis blocks later readers; its fence is above every reader\'s before it', async () => {
  const connected = await connectRedis({ host: redis.host, port: redis.port })()
  if (E.isLeft(connected)) return assert.unreachable('connect')
  const rw = makeReadWriteLock(redisPermitStore(connected.right.driver))
  const key = `fifo-${randomToken()}`
  const reader = await rw.acquireRead(key, 5_000, 0)()
  if (E.isLeft(reader)) return assert.unreachable('reader')
  const writer = rw.acquireWrite(key, 5_000, 5_000)()
  await new Promise((resolve) => setTimeout(resolve, 30))
  const late = await rw.tryAcquireRead(key, 5_000)()
  assert.ok(E.isRight(late) && O.isNone(late.right), 'the later reader waits behind the writer')
  await rw.release(reader.right)()
  const w = await writer
  assert.ok(E.isRight(w) && w.right.fence > reader.right.fence)
  if (E.isRight(w)) await rw.release(w.right)()
  await connected.right.close()
})

S('wake-ups over pub/sub: a release admits a waiter polling every 2 s within a few ms; a driver without subscribe leaves it to its next poll', async () => {
  const connected = await connectRedis({ host: redis.host, port: redis.port })()
  if (E.isLeft(connected)) return assert.unreachable('connect')
  const { driver } = connected.right
  for (const woken of [true, false]) {
    const store = redisPermitStore(woken ? driver : { send: driver.send })
    assert.is(store.wakeups !== undefined, woken)
    const semaphore = makeSemaphore(store, { retry: constantDelay(2_000) })
    const key = `wake-${randomToken()}`
    const holder = await semaphore.acquire(key, 1, 10_000, 0)()
    if (E.isLeft(holder)) return assert.unreachable('holder')
    const started = performance.now()
    const waiting = semaphore.acquire(key, 1, 10_000, 5_000)()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await semaphore.release(holder.right)()
    const waiter = await waiting
    const ms = performance.now() - started
    assert.ok(E.isRight(waiter))
    if (woken) assert.ok(ms < 600, `woken after ${ms.toFixed(0)} ms`)
    else assert.ok(ms >= 1_900, `polled after ${ms.toFixed(0)} ms`)
    if (E.isRight(waiter)) await semaphore.release(waiter.right)()
  }
  await connected.right.close()
})

S.run()
