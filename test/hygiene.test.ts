import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as E from 'fp-ts/lib/Either.js'
import { MemcachedLock } from '../adapters/memcached.js'
import { connectMemcached } from '../adapters/memjs.js'
import { RedisLock } from '../adapters/redis.js'
import { connectRedis } from '../adapters/node-redis.js'
import type { BaseOptions, LockComponent } from '../src/compat/LockComponent.js'
import { randomToken } from '../src/Environment.js'
import { LockError, message } from '../src/LockError.js'
import type { Store } from '../src/Store.js'
import { memcachedStore } from '../src/memcached/memcachedStore.js'
import { redisStore } from '../src/redis/redisStore.js'
import type { WorkerReport, WorkerTask } from './support/exclusionWorker.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'
import { sleep, thrown } from './support/expect.js'

const WORKER = fileURLToPath(new URL(`./support/exclusionWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))
const CYCLES = 1000
const WARM_UP = 100


/** A full collection, without `--expose-gc` on the command line: the flag exposes `gc` to new contexts. */
const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** The heap after full collections (a macrotask first, so that WeakRefs made in this job can be cleared). */
const heapAfterGc = async (): Promise<number> => {
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Active resources by type (sockets, timers, ...). */
const resources = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
  return counts
}

/** The resources once closed sockets are gone: the same reading three times 20 ms apart (at most 2 s). */
const settledResources = async (): Promise<Record<string, number>> => {
  let last = JSON.stringify(resources())
  for (let stable = 0, i = 0; stable < 3 && i < 100; i++) {
    await sleep(20)
    const now = JSON.stringify(resources())
    stable = now === last ? stable + 1 : 0
    last = now
  }
  return JSON.parse(last) as Record<string, number>
}

/** Listener counts on the process object (a leak here grows with every open). */
const processListeners = (): Record<string, number> =>
  Object.fromEntries(process.eventNames().map((name) => [String(name), process.listenerCount(name)]))

interface Backend {
  readonly name: 'redis' | 'memcached'
  readonly start: () => Promise<{ host: string; port: number; stop: () => Promise<void> }>
  readonly component: () => LockComponent<BaseOptions>
  readonly connect: (port: number) => Promise<{ store: Store; close: () => Promise<void> }>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: 'redis',
    start: async () => {
      const s: RedisServer = await startRedis()
      return { host: s.host, port: s.port, stop: s.stop }
    },
    component: () => new RedisLock(),
    connect: async (port) => {
      const c = await connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
      if (E.isLeft(c)) throw new Error(message(c.left))
      return { store: redisStore(c.right.driver), close: c.right.close }
    }
  },
  {
    name: 'memcached',
    start: async () => {
      const s: MemcachedServer = await startMemcached()
      return { host: s.host, port: s.port, stop: s.stop }
    },
    component: () => new MemcachedLock(),
    connect: async (port) => {
      const c = await connectMemcached({ servers: [{ host: '127.0.0.1', port }], connectTimeoutMs: 2000, commandTimeoutMs: 1000 })()
      if (E.isLeft(c)) throw new Error(message(c.left))
      return { store: memcachedStore(c.right.driver), close: c.right.close }
    }
  }
]

/** Spawns the worker without an IPC channel: it must end by itself once everything is closed. */
const runAlone = (task: WorkerTask, limitMs: number): Promise<{ code: number | null; report: WorkerReport | undefined; ms: number; afterReportMs: number }> =>
  new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [...process.execArgv, WORKER, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    let reportedAt = NaN
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.endsWith('\n') && Number.isNaN(reportedAt)) reportedAt = performance.now()
    })
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
    child.once('exit', (code) => {
      clearTimeout(killer)
      const now = performance.now()
      let report: WorkerReport | undefined
      try {
        report = JSON.parse(out) as WorkerReport
      } catch {
        report = undefined
      }
      resolve({ code, report, ms: now - t0, afterReportMs: now - reportedAt })
    })
  })

const figures: Array<string> = []

for (const backend of backends) {
  const S = suite(`resource hygiene on ${backend.name}`)
  let server: { host: string; port: number; stop: () => Promise<void> }
  const configured = (): LockComponent<BaseOptions> => {
    const c = backend.component()
    c.configure({ connection: { host: server.host, port: server.port }, options: { connect_timeout: 2000, command_timeout: 1000, retry_timeout: 10 } })
    return c
  }

  S.before(async () => {
    server = await backend.start()
  })
  S.after(async () => {
    await server?.stop()
    if (figures.length > 0) console.log(`\n${figures.splice(0).map((f) => `    ${f}`).join('\n')}`)
  })

  S(`open, lock and close ${CYCLES} times: no socket, timer or process listener left, every closed component collectable, the heap bounded`, async () => {
    const closed: Array<WeakRef<object>> = []
    const cycle = async (i: number): Promise<void> => {
      const c = configured()
      await c.open(null)
      const core = c.lock()
      assert.ok(await c.tryAcquireLock(null, `hygiene:${i % 7}`, 5000), 'each cycle locks (close released the previous one)')
      await c.close(null)
      closed.push(new WeakRef(c))
      if (E.isRight(core)) closed.push(new WeakRef(core.right.store))
    }
    for (let i = 0; i < WARM_UP; i++) await cycle(i)
    const resourcesBefore = await settledResources()
    const listenersBefore = processListeners()
    const heapBefore = await heapAfterGc()
    const t0 = performance.now()
    for (let i = 0; i < CYCLES; i++) await cycle(i)
    const ms = performance.now() - t0
    const resourcesAfter = await settledResources()
    const heapAfter = await heapAfterGc()
    assert.equal(resourcesAfter, resourcesBefore, 'the same active sockets and timers as before')
    assert.equal(processListeners(), listenersBefore, 'no listener added to the process')
    const alive = closed.filter((ref) => ref.deref() !== undefined).length
    assert.is(alive, 0, `${alive} of ${closed.length} closed components and their stores are still reachable`)
    // The heap grows while the JIT warms up (compiled code, measured at about 0.5 KiB per cycle over the
    // first thousand cycles, flat after a few thousand); a leak of a component's graph is caught above,
    // a leak of 4 KiB or more per cycle here.
    const growth = heapAfter - heapBefore
    assert.ok(growth < 4 * CYCLES * 1024, `heap grew by ${(growth / 1024).toFixed(0)} KiB over ${CYCLES} cycles`)
    figures.push(
      `${backend.name}: ${CYCLES} open/lock/close cycles in ${ms.toFixed(0)} ms (${(ms / CYCLES).toFixed(2)} ms each), heap ${(heapBefore / 1048576).toFixed(1)} -> ${(heapAfter / 1048576).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${(growth / 1024).toFixed(0)} KiB), ${closed.length} closed components and stores collected, active resources ${JSON.stringify(resourcesAfter)}`
    )
  })

  S('a child process that opens, locks, waits on a held key and closes everything ends by itself', async () => {
    const task: WorkerTask = {
      backend: backend.name,
      host: server.host,
      port: server.port,
      mode: 'exit',
      api: 'class',
      key: `hygiene-exit-${randomToken()}`,
      iterations: 1,
      ttlMs: 10_000,
      holdMs: 100,
      timeoutMs: 5000,
      counterFile: ''
    }
    const { code, report, ms, afterReportMs } = await runAlone(task, 10_000)
    assert.equal(report?.errors, [], 'the child did everything it was asked')
    assert.is(code, 0, 'it ended on its own (not killed at the 10 s limit)')
    assert.ok(afterReportMs < 1000, `it ended ${afterReportMs.toFixed(0)} ms after its last close`)
    figures.push(`${backend.name}: the child ended ${afterReportMs.toFixed(0)} ms after its last close (${ms.toFixed(0)} ms in all)`)
  })

  S('close while locks are held releases them and stops waiting acquisitions; every call after close throws NOT_OPENED; close again does nothing; open again works', async () => {
    const a = configured()
    const b = configured()
    await a.open('a')
    await b.open('b')
    const [k1, k2, k3, k4] = [1, 2, 3, 4].map((i) => `hygiene-close-${i}-${randomToken()}`) as [string, string, string, string]
    await a.acquireLock('a', k1, 60_000, 0)
    await a.acquireLock('a', k2, 60_000, 0)
    await b.acquireLock('b', k3, 60_000, 0)
    const waiting = thrown(() => a.acquireLock('a-wait', k3, 60_000, 10_000))
    const landing = thrown(() => a.tryAcquireLock('a-late', k4, 60_000))
    const t0 = performance.now()
    await a.close('a-close')
    const closeMs = performance.now() - t0
    const [w, l] = await Promise.all([waiting, landing])
    assert.is(w.code, 'ABORTED', 'the waiting acquireLock stopped')
    assert.is(w.traceId, 'a-wait')
    assert.is(l.code, 'ABORTED', 'a lock that landed after close was given back')
    assert.ok(performance.now() - t0 < 1000, 'promptly')
    assert.not.ok(a.isOpen())
    for (const key of [k1, k2, k4]) assert.ok(await b.tryAcquireLock('b', key, 60_000), `${key} was released by close`)

    for (const [name, call] of [
      ['tryAcquireLock', () => a.tryAcquireLock('after', k1, 1000)],
      ['acquireLock', () => a.acquireLock('after', k1, 1000, 0)],
      ['releaseLock', () => a.releaseLock('after', k1)]
    ] as const) {
      const e = await thrown(call)
      assert.is(e.code, 'NOT_OPENED', name)
      assert.is(e.traceId, 'after', name)
    }
    const core = a.lock()
    assert.ok(E.isLeft(core) && core.left._tag === 'NotOpened', 'the core is gone too')
    await a.close('again')
    assert.not.ok(a.isOpen())

    await a.open('reopen')
    assert.ok(a.isOpen())
    assert.ok(await a.tryAcquireLock('reopen', `hygiene-reopen-${randomToken()}`, 1000), 'a closed component opens again')
    await Promise.all([a.close('end'), b.close('end')])
    figures.push(`${backend.name}: close with two held locks, a waiter and a lock landing: ${closeMs.toFixed(0)} ms`)
  })

  S('the functional API after close: every store call fails at once with a determinate DriverFailure; closing again does nothing', async () => {
    const { store, close } = await backend.connect(server.port)
    const key = `hygiene-core-${randomToken()}`
    const granted = await store.acquire(key, 'token', 10_000)()
    assert.ok(E.isRight(granted))
    await close()
    const t0 = performance.now()
    const results: ReadonlyArray<[string, E.Either<LockError, unknown>]> = [
      ['acquire', await store.acquire(key, 'other', 10_000)()],
      ['release', await store.release({ key, token: 'token', revision: '1' })()],
      ['extend', await store.extend({ key, token: 'token', revision: '1' }, 10_000)()]
    ]
    for (const [name, r] of results)
      assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && !r.left.indeterminate, `${name} after close: ${JSON.stringify(r)}`)
    assert.ok(performance.now() - t0 < 100, 'at once')
    await close()
  })

  S.run()
}
