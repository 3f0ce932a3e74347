import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomToken } from '../src/Environment.js'
import type { WorkerTask } from './support/exclusionWorker.js'
import { overlaps, runWorkers, smallestGap } from './support/workers.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

const WORKERS = 4
const ITERATIONS = 25

let dir = ''
let redis: RedisServer
let memcached: MemcachedServer
const target = (backend: WorkerTask['backend']): Pick<WorkerTask, 'backend' | 'host' | 'port'> =>
  backend === 'redis' ? { backend, host: redis.host, port: redis.port } : { backend, host: memcached.host, port: memcached.port }

const S = suite('exclusion across processes on real servers')

S.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leaselock-exclusion-'))
  ;[redis, memcached] = await Promise.all([startRedis(), startMemcached()])
})
S.after(async () => {
  await Promise.all([redis?.stop(), memcached?.stop()])
  await rm(dir, { recursive: true, force: true })
})

for (const backend of ['redis', 'memcached'] as const) {
  S(`${backend}: ${WORKERS} processes × ${ITERATIONS} sections on one key (two over the class API, two over the core): the unprotected counter is exact and no sections overlap`, async () => {
    const counterFile = join(dir, `${backend}-count`)
    await writeFile(counterFile, '0')
    const key = `exclusion-${randomToken()}`
    const tasks = Array.from({ length: WORKERS }, (_, i): WorkerTask => ({
      ...target(backend),
      mode: 'count',
      api: i % 2 === 0 ? 'class' : 'core',
      key,
      iterations: ITERATIONS,
      ttlMs: 10_000,
      holdMs: 1,
      timeoutMs: 20_000,
      counterFile
    }))
    const ran = await runWorkers(tasks, 40_000)
    const errors = ran.reports.flatMap((r) => r.errors)
    assert.equal(errors, [], 'no worker failed')
    assert.equal(ran.exitCodes, Array(WORKERS).fill(0), 'every worker ended on its own with status 0')
    const sections = ran.reports.flatMap((r) => r.sections)
    assert.is(sections.length, WORKERS * ITERATIONS)
    assert.is(Number(await readFile(counterFile, 'utf8')), WORKERS * ITERATIONS, 'no update was lost')
    assert.equal(overlaps(sections), [], 'critical sections never overlap')
    console.log(
      `    ${backend}: ${sections.length} sections in ${ran.ms.toFixed(0)} ms, counter ${WORKERS * ITERATIONS}, 0 overlaps, smallest gap ${smallestGap(sections).toFixed(3)} ms`
    )
  })
}

// Holding past the TTL breaks mutual exclusion by construction; the library must say so.
const lostCases = [
  { backend: 'redis', ttlMs: 150, holdMs: 400 },
  // memcached expires in whole seconds: a 1 s TTL ends within 1 s, and has no guaranteed validity at all.
  { backend: 'memcached', ttlMs: 1000, holdMs: 1500 }
] as const

for (const { backend, ttlMs, holdMs } of lostCases) {
  S(`${backend}: holding ${holdMs} ms on a ${ttlMs} ms TTL without renewal is detected: the signal fires with LeaseLostError and the release reports NOT_HELD`, async () => {
    const counterFile = join(dir, `${backend}-lost`)
    await writeFile(counterFile, '0')
    const key = `lost-${randomToken()}`
    const tasks = Array.from({ length: WORKERS }, (): WorkerTask => ({
      ...target(backend),
      mode: 'lost',
      api: 'core',
      key,
      iterations: 1,
      ttlMs,
      holdMs,
      timeoutMs: 10_000,
      counterFile
    }))
    const ran = await runWorkers(tasks, 30_000)
    assert.equal(ran.reports.flatMap((r) => r.errors), [], 'no worker failed')
    const sections = ran.reports.flatMap((r) => r.sections)
    assert.is(sections.length, WORKERS)
    for (const s of sections) {
      assert.is(s.signal, 'LeaseLostError:expired', 'the signal fired before the section ended')
      assert.is(s.outcome, 'NOT_HELD', 'withLock reports the release of an expired lease as NOT_HELD')
    }
    const overlapping = overlaps(sections)
    assert.ok(overlapping.length > 0, 'the expired lease really was taken by another process meanwhile')
    const counter = Number(await readFile(counterFile, 'utf8'))
    console.log(
      `    ${backend} lost leases: ${sections.length}/${sections.length} detected, ${overlapping.length} overlapping pairs, counter ${counter} of ${WORKERS} in ${ran.ms.toFixed(0)} ms`
    )
  })
}

S.run()
