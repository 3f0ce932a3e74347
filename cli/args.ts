/**
 * The `leaselock` command line as values: durations, backends, the `run` and
 * `inspect` commands, parsed with `node:util`'s `parseArgs` into a typed
 * {@link Command} or a {@link UsageError} that names what is wrong. Pure: no
 * I/O.
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { parseArgs } from 'node:util'

/**
 * Where the locks live: one Redis server (a `redis://` or `rediss://` URL),
 * or memcached servers (`host:port`, comma-separated).
 *
 * @example
 * import { Backend } from './args.js'
 * const local: Backend = { _tag: 'Redis', url: 'redis://127.0.0.1:6379' }
 *
 * @since 0.3.0
 */
export type Backend =
  | { readonly _tag: 'Redis'; readonly url: string }
  | { readonly _tag: 'RedisCluster'; readonly urls: ReadonlyArray<string> }
  | { readonly _tag: 'Memcached'; readonly servers: ReadonlyArray<{ readonly host: string; readonly port: number }> }

/**
 * `leaselock run`: run `command` under a lease on `key`.
 *
 * @example
 * import { Run } from './args.js'
 * const nightly: Run = { _tag: 'Run', backend: { _tag: 'Redis', url: 'redis://127.0.0.1:6379' }, key: 'nightly', ttlMs: 30_000, waitMs: 0, graceMs: 10_000, connectTimeoutMs: 5_000, command: ['sleep', '1'] }
 *
 * @since 0.3.0
 */
export interface Run {
  readonly _tag: 'Run'
  readonly backend: Backend
  readonly key: string
  readonly ttlMs: number
  /** How long to wait for the lock; 0: one attempt. */
  readonly waitMs: number
  /** Between SIGTERM and SIGKILL when the lease is lost. */
  readonly graceMs: number
  readonly connectTimeoutMs: number
  readonly command: ReadonlyArray<string>
}

/**
 * `leaselock inspect`: print what the store tells about `key`.
 *
 * @example
 * import { Inspect } from './args.js'
 * const look: Inspect = { _tag: 'Inspect', backend: { _tag: 'Redis', url: 'redis://127.0.0.1:6379' }, key: 'nightly', json: false, connectTimeoutMs: 5_000 }
 *
 * @since 0.3.0
 */
export interface Inspect {
  readonly _tag: 'Inspect'
  readonly backend: Backend
  readonly key: string
  readonly json: boolean
  readonly connectTimeoutMs: number
}

/**
 * What the command line asks for.
 *
 * @example
 * import { Command } from './args.js'
 * const help: Command = { _tag: 'Help' }
 *
 * @since 0.3.0
 */
export type Command = Run | Inspect | { readonly _tag: 'Help' } | { readonly _tag: 'Version' }

/**
 * A command line that cannot be run, and why (one line).
 *
 * @example
 * import { UsageError } from './args.js'
 * const e: UsageError = { _tag: 'UsageError', message: '--key is required' }
 *
 * @since 0.3.0
 */
export interface UsageError {
  readonly _tag: 'UsageError'
  readonly message: string
}

const usageError = (message: string): E.Either<UsageError, never> => E.left({ _tag: 'UsageError', message })

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/

/**
 * A duration as written on the command line — `250ms`, `30s`, `1.5m`, `2h`, or
 * a bare number of seconds — in whole milliseconds; `undefined` when it is not one.
 *
 * @example
 * import { parseDuration } from './args.js'
 * assert.strictEqual(parseDuration('30s'), 30_000)
 * assert.strictEqual(parseDuration('1.5m'), 90_000)
 * assert.strictEqual(parseDuration('10'), 10_000)
 * assert.strictEqual(parseDuration('1.5ms'), undefined)
 *
 * @since 0.3.0
 */
export const parseDuration = (text: string): number | undefined => {
  const match = DURATION.exec(text.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * UNITS[match[2] ?? 's']!
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** The longest duration a timer honours, in ms (about 24.8 days). */
const MAX_MS = 2_147_483_647

const duration = (flag: string, text: string | undefined, fallback: number | undefined, min: number): E.Either<UsageError, number> => {
  if (text === undefined) return fallback === undefined ? usageError(`--${flag} is required`) : E.right(fallback)
  const ms = parseDuration(text)
  if (ms === undefined || ms < min || ms > MAX_MS)
    return usageError(`--${flag}: expected a duration like 500ms, 30s, 5m or 1h${min > 0 ? ` of at least ${min} ms` : ''}, got ${JSON.stringify(text)}`)
  return E.right(ms)
}

const hostPort = (text: string): { host: string; port: number } | undefined => {
  const at = text.lastIndexOf(':')
  const host = at < 0 ? text : text.slice(0, at)
  const port = at < 0 ? 11211 : Number(text.slice(at + 1))
  return host !== '' && Number.isInteger(port) && port > 0 && port < 65_536 ? { host, port } : undefined
}

const REDIS_URL = /^rediss?:\/\/./

const backendOf = (redis: string | undefined, memcached: string | undefined, cluster = false): E.Either<UsageError, Backend> => {
  if (redis !== undefined && memcached !== undefined) return usageError('give either --redis or --memcached, not both')
  if (cluster && redis === undefined) return usageError('--cluster needs --redis URL[,URL…] (nodes of the cluster)')
  if (redis !== undefined && cluster) {
    const urls = redis.split(',')
    return urls.every((u) => REDIS_URL.test(u))
      ? E.right({ _tag: 'RedisCluster', urls })
      : usageError(`--redis: expected redis:// URLs of cluster nodes, got ${JSON.stringify(redis)}`)
  }
  if (redis !== undefined)
    return REDIS_URL.test(redis) ? E.right({ _tag: 'Redis', url: redis }) : usageError(`--redis: expected a redis:// or rediss:// URL, got ${JSON.stringify(redis)}`)
  if (memcached !== undefined) {
    const servers = memcached.split(',').map(hostPort)
    return servers.every((s) => s !== undefined)
      ? E.right({ _tag: 'Memcached', servers: servers as ReadonlyArray<{ host: string; port: number }> })
      : usageError(`--memcached: expected host:port[,host:port…], got ${JSON.stringify(memcached)}`)
  }
  return usageError('give the lock server: --redis URL or --memcached HOST:PORT')
}

/** memcached's one-second clock gives shorter leases no guaranteed validity (see the memcached store). */
const MIN_MEMCACHED_TTL_MS = 3_000

const runOf = (argv: ReadonlyArray<string>, command: ReadonlyArray<string>): E.Either<UsageError, Command> => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      redis: { type: 'string' },
      cluster: { type: 'boolean' },
      memcached: { type: 'string' },
      key: { type: 'string' },
      ttl: { type: 'string' },
      wait: { type: 'string' },
      grace: { type: 'string' },
      'connect-timeout': { type: 'string' },
      help: { type: 'boolean' }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help === true) return E.right({ _tag: 'Help' })
  const backend = backendOf(values.redis, values.memcached, values.cluster === true)
  if (E.isLeft(backend)) return backend
  if (values.key === undefined || values.key === '') return usageError('--key is required (a non-empty lock key)')
  const ttlMs = duration('ttl', values.ttl, undefined, 1)
  if (E.isLeft(ttlMs)) return ttlMs
  if (backend.right._tag === 'Memcached' && ttlMs.right < MIN_MEMCACHED_TTL_MS)
    return usageError(`--ttl must be at least 3s with --memcached (its one-second clock promises a shorter lease no time at all), got ${values.ttl}`)
  const waitMs = duration('wait', values.wait, 0, 0)
  if (E.isLeft(waitMs)) return waitMs
  const graceMs = duration('grace', values.grace, 10_000, 0)
  if (E.isLeft(graceMs)) return graceMs
  const connectTimeoutMs = duration('connect-timeout', values['connect-timeout'], 5_000, 1)
  if (E.isLeft(connectTimeoutMs)) return connectTimeoutMs
  if (command.length === 0 || command[0] === '') return usageError('give the command to run after --, e.g. leaselock run … -- ./nightly-report.sh')
  return E.right({
    _tag: 'Run',
    backend: backend.right,
    key: values.key,
    ttlMs: ttlMs.right,
    waitMs: waitMs.right,
    graceMs: graceMs.right,
    connectTimeoutMs: connectTimeoutMs.right,
    command
  })
}

const inspectOf = (argv: ReadonlyArray<string>): E.Either<UsageError, Command> => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      redis: { type: 'string' },
      cluster: { type: 'boolean' },
      memcached: { type: 'string' },
      json: { type: 'boolean' },
      'connect-timeout': { type: 'string' },
      help: { type: 'boolean' }
    },
    strict: true,
    allowPositionals: true
  })
  if (values.help === true) return E.right({ _tag: 'Help' })
  const backend = backendOf(values.redis, values.memcached, values.cluster === true)
  if (E.isLeft(backend)) return backend
  if (positionals.length !== 1 || positionals[0] === '') return usageError(`inspect takes one KEY, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`)
  const connectTimeoutMs = duration('connect-timeout', values['connect-timeout'], 5_000, 1)
  if (E.isLeft(connectTimeoutMs)) return connectTimeoutMs
  return E.right({ _tag: 'Inspect', backend: backend.right, key: positionals[0]!, json: values.json === true, connectTimeoutMs: connectTimeoutMs.right })
}

/**
 * Parses the arguments after `leaselock`. Everything after the first `--`
 * is `run`'s command, untouched.
 *
 * @example
 * import { parseCommand } from './args.js'
 * const run = parseCommand(['run', '--redis', 'redis://127.0.0.1:6379', '--key', 'nightly', '--ttl', '30s', '--', 'sleep', '1'])
 * assert.ok(run._tag === 'Right' && run.right._tag === 'Run' && run.right.ttlMs === 30_000)
 * const bad = parseCommand(['run', '--redis', 'redis://127.0.0.1:6379', '--ttl', 'soon'])
 * assert.ok(bad._tag === 'Left')
 *
 * @since 0.3.0
 */
export const parseCommand = (args: ReadonlyArray<string>): E.Either<UsageError, Command> => {
  const split = args.indexOf('--')
  const own = split < 0 ? args : args.slice(0, split)
  const [name, ...rest] = own
  try {
    switch (name) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        return E.right({ _tag: 'Help' })
      case '--version':
        return E.right({ _tag: 'Version' })
      case 'run':
        return runOf(rest, split < 0 ? [] : args.slice(split + 1))
      case 'inspect':
        return split < 0 ? inspectOf(rest) : usageError('inspect takes no command after --')
      default:
        return usageError(`unknown command ${JSON.stringify(name)}: expected run or inspect`)
    }
  } catch (e) {
    // parseArgs throws on an unknown option or a missing value, with a message naming it.
    return usageError(e instanceof Error ? e.message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '') : String(e))
  }
}

/**
 * The exit statuses of `leaselock run` besides the command's own (which it
 * exits with when the command ran to its end; 128 + N when a signal N ended it).
 *
 * @example
 * import { EXIT } from './args.js'
 * assert.strictEqual(EXIT.held, 75)
 *
 * @since 0.3.0
 */
export const EXIT = {
  /** Bad flags or arguments. */
  usage: 64,
  /** The lock server cannot be reached, or failed before the command started. */
  unavailable: 69,
  /** The lock is held by someone else (and was not freed within --wait). */
  held: 75,
  /** The lease was lost while the command ran: the command was stopped. */
  lost: 76,
  /** The command cannot be executed. */
  notExecutable: 126,
  /** The command was not found. */
  notFound: 127
} as const

/**
 * `leaselock --help`.
 *
 * @example
 * import { usage } from './args.js'
 * assert.match(usage, /leaselock run/)
 *
 * @since 0.3.0
 */
export const usage = `Usage:
  leaselock run (--redis URL [--cluster] | --memcached HOST:PORT[,HOST:PORT…]) --key KEY --ttl DURATION
                [--wait DURATION] [--grace DURATION] [--connect-timeout DURATION] -- COMMAND [ARG…]
  leaselock inspect (--redis URL [--cluster] | --memcached HOST:PORT) [--json] KEY
  leaselock --help | --version

run: runs COMMAND while holding a lease on KEY, renewed every third of the TTL.
  --redis URL          redis://[user:password@]host:port[/db] or rediss://…
  --cluster            --redis names nodes of a Redis Cluster (comma-separated URLs)
  --memcached SERVERS  host:port, comma-separated (TTL of 3s or more)
  --key KEY            the lock's name, shared by every machine that runs the job
  --ttl DURATION       how long the lease lasts if this process dies (e.g. 30s)
  --wait DURATION      how long to wait for the lock (default 0: one attempt)
  --grace DURATION     SIGTERM to SIGKILL when the lease is lost (default 10s)
  --connect-timeout DURATION  deadline to reach the server (default 5s)
  Durations: 500ms, 30s, 5m, 1h, or a bare number of seconds.
  COMMAND runs in a process group of its own with LEASELOCK_KEY and
  LEASELOCK_FENCE (the lease's fencing token) in its environment. SIGINT,
  SIGTERM and SIGHUP sent to leaselock are forwarded to it. If the lease is
  lost, COMMAND is sent SIGTERM, then SIGKILL after the grace period.

inspect: prints whether KEY is held, the TTL left, the fencing counter and the
  waiters queued, as far as the backend can tell (--json for one JSON object).

Exit status of run: COMMAND's own (128+N if signal N ended it), or
  ${EXIT.usage} bad usage, ${EXIT.unavailable} server unreachable or failing, ${EXIT.held} lock held by another,
  ${EXIT.lost} lease lost (COMMAND was stopped), ${EXIT.notExecutable} COMMAND not executable, ${EXIT.notFound} COMMAND not found.
Exit status of inspect: 0, ${EXIT.usage} or ${EXIT.unavailable}.`
