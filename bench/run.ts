/**
 * `npm run bench`: starts the servers, measures every contestant (latency,
 * floors, peers, throughput, contention), prints the tables on stdout, writes
 * the JSON and the SVG chart, stops everything and exits.
 *
 * Progress goes to stderr; the tables to stdout.
 *
 * @since 0.1.0
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, platform, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { randomToken } from '../src/Environment.js'
import { Settings, parseSettings, usage } from './args.js'
import { resultsChart } from './chart.js'
import { ContentionResult, contention } from './contention.js'
import { HANDOFF_WORKERS, handoff } from './handoff.js'
import { deadServers } from './deadServer.js'
import { Contestant, available } from './contestants.js'
import { quorumSummary } from './quorumReport.js'
import { Results, definitions, ratios, render, targets } from './report.js'
import { Entrant, Outcome, latency, throughput } from './scenarios.js'
import { benchCluster, renderCluster } from './cluster.js'
import { startClusterServers, startServers } from './servers.js'
import { SemaphoreFigures, renderSemaphores, semaphoreScenario } from './semaphores.js'

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

const require = createRequire(import.meta.url)

/** The installed version of a package, read from its package.json (found from its entry point). */
const installed = (name: string): string => {
  try {
    let dir = dirname(require.resolve(name))
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === name) return pkg.version ?? 'unknown'
      } catch {
        // no package.json at this level: keep walking up
      }
      const up = dirname(dir)
      if (up === dir) return 'unknown'
      dir = up
    }
  } catch {
    return 'not installed'
  }
}

const machine = (): Record<string, string | number> => ({
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  os: `${platform()} ${release()}`,
  node: process.version
})

const open = async (candidates: ReadonlyArray<Contestant>, endpoints: Parameters<Contestant['open']>[0]): Promise<Entrant[]> => {
  const entrants: Entrant[] = []
  for (const c of candidates) {
    try {
      entrants.push({ id: c.id, locker: await c.open(endpoints) })
    } catch (e) {
      progress(`  ${c.id}: could not connect: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  return entrants
}

/** How many processes share the semaphore in its scenario. */
const SEMAPHORE_WORKERS = 8
/** How long each holds its permit there: long enough that the 3 permits, not the round trips, limit the rate (at best 3 / 20 ms = 150 permits/s). */
const SEMAPHORE_HOLD_MS = 20

const bench = async (settings: Settings): Promise<Results & { readonly semaphore: Record<string, Outcome<SemaphoreFigures>> }> => {
  const t0 = performance.now()
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`
  progress(`starting servers for: ${settings.backends.join(', ')}`)
  const servers = await startServers({
    redis: settings.backends.includes('redis'),
    memcached: settings.backends.includes('memcached')
  })
  for (const note of servers.notes) progress(`  ${note}`)
  const alone = servers.redisUrl === undefined && servers.memcachedServers === undefined
  const notes = [...servers.notes, ...(alone ? ['none: no Redis and no Memcached in this run, so the memory store was measured alone'] : [])]
  if (alone) progress('  no Redis and no Memcached in this run: measuring the memory store alone')
  const prefix = `leaselock-bench:${randomToken()}`
  const candidates = available(settings.backends, servers)
  const entrants = await open(candidates.filter((c) => c.handoffOnly !== true), servers)
  try {
    progress(`[${elapsed()}] latency: ${settings.iterations} sequential pairs per library, ${entrants.length} libraries`)
    const lat = await latency(
      entrants,
      {
        iterations: settings.iterations,
        warmup: Math.min(500, Math.ceil(settings.iterations / 5)),
        rounds: Math.min(100, Math.max(10, Math.floor(settings.iterations / 100))),
        prefix
      },
      progress
    )
    progress(`[${elapsed()}] throughput: ${settings.concurrency} concurrent lockers, ${settings.ops} pairs per library`)
    const tp = await throughput(entrants, { concurrency: settings.concurrency, ops: settings.ops, rounds: 5, prefix }, progress)
    const contenders = candidates.filter((c) => c.contends)
    progress(`[${elapsed()}] contention: ${settings.workers} processes × ${settings.durationMs} ms for ${contenders.length} libraries`)
    const cont: Record<string, Outcome<ContentionResult>> = {}
    for (const c of contenders) {
      cont[c.id] = await contention(
        c.id,
        servers,
        {
          workers: settings.workers,
          holdMs: settings.holdMs,
          pauseMs: settings.pauseMs,
          durationMs: settings.durationMs,
          ttlMs: 5_000,
          timeoutMs: 10_000,
          prefix
        },
        progress
      )
    }
    const ring = candidates.some((c) => c.id === 'raw-ring')
    if (ring) progress(`[${elapsed()}] handoff: ours and the raw ring, ${HANDOFF_WORKERS.join(' and ')} processes × ${settings.durationMs} ms, ${settings.quick ? 1 : 3} round(s)`)
    const handoffRuns = ring
      ? await handoff(
          servers,
          { holdMs: settings.holdMs, pauseMs: settings.pauseMs, durationMs: settings.durationMs, ttlMs: 5_000, timeoutMs: 10_000, prefix },
          HANDOFF_WORKERS,
          settings.quick ? 1 : 3,
          progress
        )
      : []
    // Servers of their own, killed and restarted: only when this run starts its own servers at all.
    const killable = (['redis', 'memcached'] as const).filter((b) =>
      b === 'redis' ? servers.redisUrl !== undefined && process.env.REDIS_URL === undefined : servers.memcachedServers !== undefined && process.env.MEMCACHED_SERVERS === undefined
    )
    const outageMs = settings.quick ? 1_500 : 5_000
    if (killable.length > 0) progress(`[${elapsed()}] dead server: ${killable.join(' and ')} killed for ${outageMs} ms each, then restarted`)
    const dead = await deadServers(killable, { outageMs, upCalls: settings.quick ? 200 : 1_000 }, progress)
    progress(`[${elapsed()}] semaphore: ${SEMAPHORE_WORKERS} processes × ${settings.durationMs} ms on a semaphore of 3 (hold ${SEMAPHORE_HOLD_MS} ms), leaselock and redis-semaphore`)
    const semaphore: Record<string, Outcome<SemaphoreFigures>> =
      servers.redisUrl === undefined
        ? {}
        : await semaphoreScenario(servers, { workers: SEMAPHORE_WORKERS, holdMs: SEMAPHORE_HOLD_MS, pauseMs: settings.pauseMs, durationMs: settings.durationMs, prefix }, progress)
    progress(`[${elapsed()}] done`)
    return {
      semaphore,
      generatedAt: new Date().toISOString(),
      settings,
      machine: machine(),
      servers: { notes, versions: servers.versions },
      libraries: Object.fromEntries(
        ['fp-ts', 'redis', 'ioredis', 'memjs', 'redlock', 'redis-semaphore'].map((n) => [n, installed(n)])
      ),
      contestants: candidates.map(({ id, label, kind, backend, client, floor }) => ({
        id, label, kind, backend, client, ...(floor === undefined ? {} : { floor })
      })),
      latency: lat,
      throughput: tp,
      contention: cont,
      handoff: handoffRuns,
      deadServer: dead,
      definitions
    }
  } finally {
    await Promise.all(entrants.map((e) => e.locker.close().catch(() => undefined)))
    await servers.stop()
  }
}

const main = async (): Promise<number> => {
  let settings: Settings | 'help'
  try {
    settings = parseSettings(process.argv.slice(2))
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage}\n`)
    return 2
  }
  if (settings === 'help') {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  mkdirSync(settings.outDir, { recursive: true })
  if (settings.cluster) {
    progress('starting one redis-server, a primary with a replica, and a 6-node cluster')
    const servers = await startClusterServers()
    try {
      const results = await benchCluster(settings, servers, machine(), progress)
      const jsonFile = join(settings.outDir, `${settings.quick ? 'bench-cluster-quick' : 'bench-cluster'}.json`)
      writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`)
      process.stdout.write(`${renderCluster(results)}\n\nwrote ${jsonFile}\n`)
    } finally {
      await servers.stop()
    }
    return 0
  }
  const results = await bench(settings)
  const base = settings.quick ? 'bench-quick' : 'bench'
  const jsonFile = join(settings.outDir, `${base}.json`)
  const svgFile = join(settings.outDir, `${base}.svg`)
  writeFileSync(jsonFile, `${JSON.stringify({ ...results, ratios: ratios(results), quorum: quorumSummary(results), targets: targets(results) }, null, 2)}\n`)
  writeFileSync(svgFile, resultsChart(results))
  process.stdout.write(`${render(results)}\n\n${renderSemaphores(results.semaphore)}\n\nwrote ${jsonFile} and ${svgFile}\n`)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
    setTimeout(() => {
      process.stderr.write('a client left a handle open; exiting anyway\n')
      process.exit(code)
    }, 5_000).unref()
  },
  (e: unknown) => {
    process.stderr.write(`benchmark failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exitCode = 1
  }
)
