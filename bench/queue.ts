/**
 * `npm run bench:queue [-- --quick] [-- --out dir]`: the Redis wait queue and
 * the fencing counters at scale, on a redis-server of its own:
 *
 * - **serve**: D waiters of one key in 4 processes (1 for D = 1), the key
 *   released once: the time until all are served, per handoff and as a ratio
 *   to the 1-waiter handoff measured in the same run; Redis script calls per
 *   handoff and Redis CPU (`INFO commandstats`, `INFO cpu`);
 * - **depth**: N waiters queued in Redis itself (N tokens of one client): the
 *   slowest script (`SLOWLOG`, threshold 1 ms) and the mean script time while
 *   joining, polling and handing over at that depth, then all N leaving at
 *   once (Redis time in total), and a release behind N dead entries;
 * - **keys**: K distinct keys locked once with a short `fenceIdleMs`, then
 *   idle past it: `used_memory` before, at the peak and after.
 *
 * Progress goes to stderr; the table to stdout; the figures to
 * `bench-queue.json` (`bench-queue-quick.json`).
 *
 * @since 0.3.0
 */
import { ChildProcess, fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../adapters/node-redis.js'
import { randomToken } from '../src/Environment.js'
import { message } from '../src/LockError.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { redisStore } from '../src/redis/redisStore.js'
import * as scriptsModule from '../src/redis/scripts.js'
import { evalCommand, evalShaCommand, releaseScript, script } from '../src/redis/scripts.js'
import { startRedis } from '../test/support/redisServer.js'
import { FromQueueWorker, ToQueueWorker, sharedNow } from './queueProtocol.js'

const progress = (line: string): void => void process.stderr.write(`${line}\n`)

const PROCESSES = 4

/** One `INFO` section as numbers by field (`cmdstat_evalsha: calls=…,usec=…` flattened as `cmdstat_evalsha.calls`). */
const info = async (c: RedisConnection, section: string): Promise<Record<string, number>> => {
  const r = await c.driver.send(['INFO', section])()
  if (E.isLeft(r)) throw new Error(String(r.left.cause))
  const fields: Record<string, number> = {}
  for (const line of String(r.right).split(/\r?\n/)) {
    const [name, value] = line.split(':')
    if (name === undefined || value === undefined) continue
    if (value.includes('=')) for (const pair of value.split(',')) {
      const [k, v] = pair.split('=')
      fields[`${name}.${k}`] = Number(v)
    }
    else fields[name] = Number(value)
  }
  return fields
}

const run = async (c: RedisConnection, command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await c.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command[0]}: ${String(r.left.cause)}`)
  return r.right
}

/** Script calls and their total time (µs) since the last `CONFIG RESETSTAT`. */
const scripts = async (c: RedisConnection): Promise<{ calls: number; usec: number }> => {
  const stats = await info(c, 'commandstats')
  const calls = (stats['cmdstat_evalsha.calls'] ?? 0) + (stats['cmdstat_eval.calls'] ?? 0)
  const usec = (stats['cmdstat_evalsha.usec'] ?? 0) + (stats['cmdstat_eval.usec'] ?? 0)
  return { calls, usec }
}

const cpuSeconds = async (c: RedisConnection): Promise<number> => {
  const cpu = await info(c, 'cpu')
  return (cpu.used_cpu_user ?? 0) + (cpu.used_cpu_sys ?? 0)
}

/** A script's name by its SHA1 (`releaseScript`, …), for the slow log's entries. */
const scriptNames = new Map(
  Object.entries(scriptsModule).flatMap(([name, value]) =>
    typeof value === 'object' && value !== null && 'sha1' in value ? [[String((value as { sha1: string }).sha1), name] as const] : []
  )
)

/** The scripts the slow log recorded since the last `SLOWLOG RESET` (it records every command here): how many took 1 ms or more, and the slowest. */
const slowScripts = async (c: RedisConnection): Promise<{ readonly overOneMs: number; readonly slowestUsec: number; readonly slowest: string; readonly recorded: number }> => {
  const entries = (await run(c, ['SLOWLOG', 'GET', '1000000'])) as ReadonlyArray<ReadonlyArray<unknown>>
  const scriptsOnly = entries.filter((e) => /^eval/i.test(String((e[3] as ReadonlyArray<unknown>)[0])))
  const slowest = scriptsOnly.reduce<ReadonlyArray<unknown> | undefined>((a, e) => (a === undefined || Number(e[2]) > Number(a[2]) ? e : a), undefined)
  return {
    overOneMs: scriptsOnly.filter((e) => Number(e[2]) >= 1_000).length,
    slowestUsec: slowest === undefined ? 0 : Number(slowest[2]),
    slowest: slowest === undefined ? '' : /^evalsha$/i.test(String((slowest[3] as ReadonlyArray<unknown>)[0])) ? (scriptNames.get(String((slowest[3] as ReadonlyArray<unknown>)[1])) ?? 'another script') : 'EVAL (its first run)',
    recorded: scriptsOnly.length
  }
}

interface ServeFigures {
  readonly waiters: number
  readonly processes: number
  readonly servedMs: number
  readonly perHandoffMs: number
  readonly scriptsPerHandoff: number
  readonly redisCpuMs: number
  readonly failed: number
}

/** A forked worker and its next message. */
interface Worker {
  readonly next: <T extends FromQueueWorker['type']>(type: T) => Promise<Extract<FromQueueWorker, { type: T }>>
  readonly send: (m: ToQueueWorker) => void
}

/** Forks a worker, connected and warm. */
const startWorker = async (url: string): Promise<Worker> => {
  const child: ChildProcess = fork(fileURLToPath(new URL('./queueWorker.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const inbox: FromQueueWorker[] = []
  let wake: () => void = () => undefined
  child.on('message', (m: FromQueueWorker) => {
    inbox.push(m)
    wake()
  })
  child.on('exit', () => {
    inbox.push({ type: 'failed', error: 'the worker exited' })
    wake()
  })
  const next = async <T extends FromQueueWorker['type']>(type: T): Promise<Extract<FromQueueWorker, { type: T }>> => {
    for (;;) {
      const m = inbox.shift()
      if (m !== undefined) {
        if (m.type === 'failed') throw new Error(m.error)
        if (m.type === type) return m as Extract<FromQueueWorker, { type: T }>
        continue
      }
      await new Promise<void>((resolve) => (wake = resolve))
    }
  }
  const worker: Worker = { next, send: (m) => void child.send(m) }
  worker.send({ type: 'setup', url })
  await next('ready')
  return worker
}

/** D waiters spread over `workers`, the key released once: how long until every one was served and released. */
const serve = async (admin: RedisConnection, workers: ReadonlyArray<Worker>, waiters: number): Promise<ServeFigures> => {
  const processes = Math.min(workers.length, waiters)
  const key = `bench-queue:${randomToken()}`
  const holderToken = randomToken()
  await run(admin, ['SET', key, holderToken, 'PX', '600000'])
  const busy = workers.slice(0, processes)
  busy.forEach((w, i) => w.send({ type: 'round', key, count: Math.floor(waiters / processes) + (i < waiters % processes ? 1 : 0), ttlMs: 10_000, timeoutMs: 600_000 }))
  await Promise.all(busy.map((w) => w.next('launched')))
  for (let i = 0; Number(await run(admin, ['ZCARD', `{${key}}:queue`])) < 2 * processes; i++) {
    if (i > 3_000) throw new Error('the workers never all queued')
    await sleep(5)
  }
  await sleep(50)
  await run(admin, ['CONFIG', 'RESETSTAT'])
  const cpu0 = await cpuSeconds(admin)
  const t0 = sharedNow()
  // The holder's release, as the release script does it (the holder is this process).
  await run(admin, evalCommand(releaseScript, [key, `{${key}}:fence`, `{${key}}:queue`, `{${key}}:waiters`], [holderToken, '86400000']))
  const reports = await Promise.all(busy.map((w) => w.next('done')))
  const servedMs = Math.max(...reports.map((r) => r.lastReleasedAt)) - t0
  const { calls } = await scripts(admin)
  const redisCpuMs = ((await cpuSeconds(admin)) - cpu0) * 1000
  const failed = reports.reduce((n, r) => n + r.failed, 0)
  // calls - 1: the holder's release is not a waiter's handoff cost
  return { waiters, processes, servedMs, perHandoffMs: servedMs / waiters, scriptsPerHandoff: (calls - 1) / waiters, redisCpuMs, failed }
}

interface DepthFigures {
  readonly queued: number
  /** Scripts of 1 ms or more while joining, polling, handing over and leaving at this depth (of `scriptsRecorded`), and the slowest one. */
  readonly slowScripts: number
  readonly slowestScriptUsec: number
  readonly slowestScriptSha: string
  readonly scriptsRecorded: number
  readonly joinUsecPerCall: number
  readonly pollUsecPerCall: number
  readonly handoffUsecPerCall: number
  readonly leaveBurstRedisMs: number
  /** The same number of one-command scripts (`GET` of one key) sent at once: the floor any leave costs. */
  readonly floorBurstRedisMs: number
  readonly leaveUsecPerCall: number
  readonly deadReleaseUsecPerCall: number
}

/** N waiters queued in Redis itself: script costs at that depth, a leave burst, releases behind dead entries. */
const depth = async (admin: RedisConnection, url: string, n: number): Promise<DepthFigures> => {
  const connected = await connectRedis({ uri: url, commandTimeoutMs: 30_000 })()
  if (E.isLeft(connected)) throw new Error(message(connected.left))
  const store = redisStore(connected.right.driver)
  const queue = store.queue!
  const key = `bench-depth:${randomToken()}`
  const tokens = Array.from({ length: n }, (_, i) => `waiter-${i}-${randomToken()}`)
  await store.acquire(key, 'holder', 600_000)()
  await queue.acquireOrEnqueue(key, 'subscribing', 600_000, 600_000)() // subscribes the store's channel once
  await run(admin, ['CONFIG', 'SET', 'slowlog-log-slower-than', '0'])
  await run(admin, ['CONFIG', 'SET', 'slowlog-max-len', '1000000'])
  await run(admin, ['SLOWLOG', 'RESET'])
  const inBatches = async (items: ReadonlyArray<string>, each: (t: string) => Promise<unknown>): Promise<void> => {
    for (let i = 0; i < items.length; i += 500) await Promise.all(items.slice(i, i + 500).map(each))
  }
  const usecPerCall = async (work: () => Promise<void>): Promise<number> => {
    await run(admin, ['CONFIG', 'RESETSTAT'])
    await work()
    const { calls, usec } = await scripts(admin)
    return calls === 0 ? 0 : usec / calls
  }
  const joinUsecPerCall = await usecPerCall(() => inBatches(tokens, (t) => queue.acquireOrEnqueue(key, t, 600_000, 600_000)()))
  const pollUsecPerCall = await usecPerCall(async () => {
    for (const t of tokens.slice(0, 100)) await queue.poll(key, t, 600_000, 600_000)()
    for (let i = 0; i < 100; i++) await queue.poll(key, `back-${i}`, 600_000, 600_000)() // put back at the head
  })
  let holder = 'holder'
  const handoffUsecPerCall = await usecPerCall(async () => {
    for (let i = 0; i < 100; i++) {
      await store.release({ key, token: holder, revision: '' })()
      holder = String(await run(admin, ['GET', key]))
    }
  })
  const leaving = [...tokens, 'subscribing', ...Array.from({ length: 100 }, (_, i) => `back-${i}`)]
  await run(admin, ['CONFIG', 'RESETSTAT'])
  await Promise.all(leaving.map((t) => queue.leave(key, t)()))
  const left = await scripts(admin)
  const floorScript = script("return redis.call('GET', KEYS[1])")
  await run(admin, ['SCRIPT', 'LOAD', floorScript.source])
  await run(admin, ['CONFIG', 'RESETSTAT'])
  await Promise.all(leaving.map((t) => connected.right.driver.send(evalShaCommand(floorScript, [key], [t]))()))
  const floor = await scripts(admin)
  await store.release({ key, token: holder, revision: '' })()
  // A release behind N dead entries (waiters gone without leaving), one live waiter first.
  const deadKey = `bench-dead:${randomToken()}`
  await store.acquire(deadKey, 'holder', 600_000)()
  await queue.acquireOrEnqueue(deadKey, 'first', 600_000, 600_000)()
  await inBatches(tokens, (t) => queue.acquireOrEnqueue(deadKey, t, 600_000, 1)())
  await sleep(10)
  const deadReleaseUsecPerCall = await usecPerCall(async () => {
    let h = 'holder'
    for (let i = 0; i < 20; i++) {
      await store.release({ key: deadKey, token: h, revision: '' })()
      h = `again-${i}`
      await store.acquire(deadKey, h, 600_000)()
    }
  })
  const slow = await slowScripts(admin)
  await run(admin, ['CONFIG', 'SET', 'slowlog-log-slower-than', '10000'])
  await run(admin, ['CONFIG', 'SET', 'slowlog-max-len', '128'])
  await run(admin, ['SLOWLOG', 'RESET'])
  await run(admin, ['DEL', deadKey, `{${deadKey}}:queue`, `{${deadKey}}:waiters`])
  await connected.right.close()
  return {
    queued: n,
    slowScripts: slow.overOneMs,
    slowestScriptUsec: slow.slowestUsec,
    slowestScriptSha: slow.slowest,
    scriptsRecorded: slow.recorded,
    joinUsecPerCall,
    pollUsecPerCall,
    handoffUsecPerCall,
    leaveBurstRedisMs: left.usec / 1000,
    floorBurstRedisMs: floor.usec / 1000,
    leaveUsecPerCall: left.calls === 0 ? 0 : left.usec / left.calls,
    deadReleaseUsecPerCall
  }
}

interface KeysFigures {
  readonly keys: number
  readonly idleMs: number
  readonly startBytes: number
  readonly peakBytes: number
  readonly afterBytes: number
  readonly afterIdleMs: number
  readonly withinOnePercent: boolean
}

/** Locks `keys` distinct keys once each (200 at a time) on a connection of its own; answers `used_memory` at the end, before closing it. */
const lockKeysOnce = async (url: string, keys: number, idleMs: number, memory: () => Promise<number>): Promise<number> => {
  const connected = await connectRedis({ uri: url, commandTimeoutMs: 30_000 })()
  if (E.isLeft(connected)) throw new Error(message(connected.left))
  const store = redisStore(connected.right.driver, { fenceIdleMs: idleMs })
  const prefix = `bench-keys:${randomToken()}`
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys; i = next++) {
      const k = `${prefix}:${i}`
      const grant = await store.acquire(k, 't', 60_000)()
      if (E.isRight(grant) && grant.right._tag === 'Some') await store.release({ key: k, token: 't', revision: grant.right.value.revision })()
    }
  }
  await Promise.all(Array.from({ length: 200 }, worker))
  const peak = await memory()
  await connected.right.close()
  return peak
}

/**
 * K distinct keys locked once, then idle past the counters' idle period:
 * memory back to where it started? Measured with only the admin connection
 * open (the load's connection, whose buffers the load grows, is closed), and
 * after the same work on a few keys, so that what any run allocates once
 * (the scripts, each command's latency histogram) is in the start already.
 */
const distinctKeys = async (admin: RedisConnection, url: string, keys: number, idleMs: number): Promise<KeysFigures> => {
  const memory = async (): Promise<number> => (await info(admin, 'memory')).used_memory ?? 0
  /** `used_memory` once no key is left and it has not moved for 1.5 s (the slow log, a diagnostic buffer slow commands fill, emptied first). */
  const settled = async (since: number): Promise<number> => {
    await run(admin, ['SLOWLOG', 'RESET'])
    let bytes = await memory()
    for (let steady = 0; steady < 3 && sharedNow() - since < idleMs + 120_000; ) {
      await sleep(500)
      const now = await memory()
      await run(admin, ['SLOWLOG', 'RESET'])
      steady = sharedNow() - since > idleMs && Number(await run(admin, ['DBSIZE'])) === 0 && now === bytes ? steady + 1 : 0
      bytes = now
    }
    return bytes
  }
  await run(admin, ['FLUSHALL'])
  await lockKeysOnce(url, 1_000, idleMs, memory)
  const startBytes = await settled(sharedNow())
  const peakBytes = await lockKeysOnce(url, keys, idleMs, memory)
  const lockedAt = sharedNow()
  const afterBytes = await settled(lockedAt)
  return { keys, idleMs, startBytes, peakBytes, afterBytes, afterIdleMs: sharedNow() - lockedAt, withinOnePercent: afterBytes <= startBytes * 1.01 }
}

const main = async (): Promise<void> => {
  const argv = process.argv.slice(2)
  const quick = argv.includes('--quick')
  const outAt = argv.indexOf('--out')
  const outDir = outAt >= 0 && argv[outAt + 1] !== undefined ? argv[outAt + 1]! : 'bench/results'
  const server = await startRedis({ args: ['--loglevel', 'warning'] })
  const connected = await connectRedis({ uri: server.url, commandTimeoutMs: 60_000 })()
  if (E.isLeft(connected)) throw new Error(message(connected.left))
  const admin = connected.right
  try {
    const workers = await Promise.all(Array.from({ length: PROCESSES }, () => startWorker(server.url)))
    const baselineRuns = quick ? 10 : 30
    progress(`serve: the 1-waiter handoff, ${baselineRuns} rounds`)
    const singles: ServeFigures[] = []
    for (let i = 0; i < baselineRuns; i++) singles.push(await serve(admin, workers, 1))
    const sorted = [...singles].sort((a, b) => a.perHandoffMs - b.perHandoffMs)
    const baseline = sorted[Math.floor(sorted.length / 2)]!
    const served: ServeFigures[] = []
    for (const d of quick ? [100, 1_000] : [100, 1_000, 10_000]) {
      progress(`serve: ${d} waiters in ${PROCESSES} processes`)
      served.push(await serve(admin, workers, d))
    }
    workers.forEach((w) => w.send({ type: 'stop' }))
    const depthN = quick ? 1_000 : 10_000
    progress(`depth: 10, then ${depthN} waiters queued in Redis`)
    const shallow = await depth(admin, server.url, 10)
    const atDepth = await depth(admin, server.url, depthN)
    const keysN = quick ? 100_000 : 1_000_000
    const idleMs = quick ? 2_000 : 5_000
    progress(`keys: ${keysN} distinct keys, counters idle after ${idleMs} ms`)
    const keys = await distinctKeys(admin, server.url, keysN, idleMs)
    const results = {
      generatedAt: new Date().toISOString(),
      quick,
      serve: { baseline, runs: served.map((s) => ({ ...s, perHandoffRatio: s.perHandoffMs / baseline.perHandoffMs })) },
      depth: { shallow, deep: atDepth },
      keys
    }
    mkdirSync(outDir, { recursive: true })
    const file = join(outDir, quick ? 'bench-queue-quick.json' : 'bench-queue.json')
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
    const f = (x: number, d = 2): string => x.toFixed(d)
    const lines = [
      'waiters  processes  served in (ms)  per handoff (ms)  × 1-waiter  scripts/handoff  Redis CPU (ms)  failed',
      ...[baseline, ...served].map(
        (s) =>
          `${String(s.waiters).padStart(7)}  ${String(s.processes).padStart(9)}  ${f(s.servedMs, 1).padStart(14)}  ${f(s.perHandoffMs, 3).padStart(16)}  ${f(s.perHandoffMs / baseline.perHandoffMs).padStart(10)}  ${f(s.scriptsPerHandoff).padStart(15)}  ${f(s.redisCpuMs, 0).padStart(14)}  ${String(s.failed).padStart(6)}`
      ),
      '',
      ...[shallow, atDepth].map(
        (d) =>
          `at ${d.queued} queued: scripts ≥ 1 ms: ${d.slowScripts} of ${d.scriptsRecorded} (slowest ${d.slowestScriptUsec} µs, ${d.slowestScriptSha}); µs per script: join ${f(d.joinUsecPerCall, 1)}, poll ${f(d.pollUsecPerCall, 1)}, handoff ${f(d.handoffUsecPerCall, 1)}, leave ${f(d.leaveUsecPerCall, 1)}, release behind ${d.queued} dead entries ${f(d.deadReleaseUsecPerCall, 1)}; all ${d.queued} leaving at once: ${f(d.leaveBurstRedisMs, 1)} ms of Redis time (${f(d.leaveBurstRedisMs / d.floorBurstRedisMs)}× as many one-GET scripts: ${f(d.floorBurstRedisMs, 1)} ms)`
      ),
      `${keys.keys} distinct keys: used_memory ${keys.startBytes} → peak ${keys.peakBytes} → ${keys.afterBytes} after ${f(keys.afterIdleMs / 1000, 1)} s (idle period ${keys.idleMs} ms): ${keys.withinOnePercent ? 'within' : 'NOT within'} 1% of the start`
    ]
    process.stdout.write(`${lines.join('\n')}\n\nwrote ${file}\n`)
  } finally {
    await admin.close()
    await server.stop()
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`queue benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
})
