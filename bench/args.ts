/**
 * The benchmark's command line, parsed into settings (pure).
 *
 * @since 0.1.0
 */
import { parseArgs } from 'node:util'
import type { Backend } from './locker.js'

/**
 * @since 0.1.0
 */
export interface Settings {
  readonly quick: boolean
  /** Measure Redis Cluster and replica-acknowledged leases against one node, instead of the default contestants. */
  readonly cluster: boolean
  readonly backends: ReadonlyArray<Backend>
  /** Measured acquire+release pairs per contestant in the latency scenario. */
  readonly iterations: number
  /** Acquire+release pairs per contestant in the throughput scenario. */
  readonly ops: number
  /** Concurrent lockers (distinct keys) in the throughput scenario. */
  readonly concurrency: number
  /** Worker processes in the contention scenario. */
  readonly workers: number
  readonly holdMs: number
  readonly pauseMs: number
  /** Length of each contention run. */
  readonly durationMs: number
  readonly outDir: string
}

/**
 * @since 0.1.0
 */
export const usage = `Usage: node dist/bench/run.js [options]

  --quick                 short run (about a minute): fewer iterations, shorter contention runs,
                          one handoff round, shorter outages
  --cluster               Redis scale-out instead: leaselock on one node, on a local 6-node
                          cluster (keys on 3 masters, or all on 1) and with syncReplicas 1
                          (one node with a replica, and the cluster); writes bench-cluster.json
  --backend LIST          comma-separated subset of memory,redis,memcached (default: all three)
  --iterations N          latency: measured acquire+release pairs per library (default 10000, quick 500)
  --ops N                 throughput: acquire+release pairs per library (default 20000, quick 2000)
  --concurrency N         throughput: concurrent lockers on distinct keys (default 64)
  --workers W             contention: worker processes fighting for one key (default 4; the
                          handoff scenario against the raw ring always runs 4 and 8)
  --hold MS               contention: how long each worker holds the lock (default 2)
  --pause MS              contention: pause after each release (default 1)
  --duration MS           contention: length of each library's run (default 10000, quick 1500)
  --out DIR               where to write the JSON and SVG (default bench/results)
  --help                  this text

Servers: starts its own redis-server and memcached on free 127.0.0.1 ports when they are on
PATH; REDIS_URL / MEMCACHED_SERVERS point it at existing servers instead.`

const BACKENDS: ReadonlyArray<Backend> = ['memory', 'redis', 'memcached']

const count = (name: string, raw: string | undefined, fallback: number, min: number): number => {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} needs an integer ≥ ${min}, got "${raw}"`)
  return n
}

/**
 * Parses the arguments; `'help'` when help was asked for. Throws an `Error`
 * with a message for the user on a bad argument.
 *
 * @example
 * import { parseSettings } from './args.js'
 * const s = parseSettings(['--quick', '--backend', 'memory'])
 * assert.ok(s !== 'help' && s.iterations === 500 && s.backends.length === 1 && !s.cluster)
 *
 * @since 0.1.0
 */
export const parseSettings = (argv: ReadonlyArray<string>): Settings | 'help' => {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean', default: false },
      cluster: { type: 'boolean', default: false },
      backend: { type: 'string' },
      iterations: { type: 'string' },
      ops: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      hold: { type: 'string' },
      pause: { type: 'string' },
      duration: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help === true) return 'help'
  const quick = values.quick === true
  const backends = (values.backend ?? BACKENDS.join(','))
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  const unknown = backends.filter((b) => !(BACKENDS as ReadonlyArray<string>).includes(b))
  if (unknown.length > 0 || backends.length === 0)
    throw new Error(`--backend takes a comma-separated subset of ${BACKENDS.join(',')}, got "${values.backend ?? ''}"`)
  return {
    quick,
    cluster: values.cluster === true,
    backends: BACKENDS.filter((b) => backends.includes(b)),
    iterations: count('iterations', values.iterations, quick ? 500 : 10000, 1),
    ops: count('ops', values.ops, quick ? 2000 : 20000, 1),
    concurrency: count('concurrency', values.concurrency, 64, 1),
    workers: count('workers', values.workers, 4, 1),
    holdMs: count('hold', values.hold, 2, 0),
    pauseMs: count('pause', values.pause, 1, 0),
    durationMs: count('duration', values.duration, quick ? 1500 : 10000, 100),
    outDir: values.out ?? 'bench/results'
  }
}
