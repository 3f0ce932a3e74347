import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../adapters/node-redis.js'
import { EXIT, parseCommand, parseDuration } from '../cli/args.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { randomToken } from '../src/Environment.js'
import { sleep } from './support/expect.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { startSingleNodeCluster } from './support/redisCluster.js'

/** The project folder: the nearest folder above this file with a package.json (from dist/test or from test). */
const findRoot = (dir: string): string => (existsSync(join(dir, 'package.json')) ? dir : findRoot(dirname(dir)))
const here = fileURLToPath(import.meta.url)
const root = findRoot(dirname(here))
/** The built CLI under `npm test`; its TypeScript source through tsx when the tests run from source. */
const cli: ReadonlyArray<string> = here.endsWith('.ts') ? ['--import', 'tsx', join(root, 'cli', 'main.ts')] : [join(root, 'dist', 'cli', 'main.js')]

interface Outcome {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** Starts `leaselock …` as a process; `done` settles when it exits. */
const start = (args: ReadonlyArray<string>): { readonly proc: ChildProcess; readonly done: Promise<Outcome> } => {
  const t0 = performance.now()
  const proc = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Outcome>((resolve) => proc.once('close', (status) => resolve({ status, stdout, stderr, ms: performance.now() - t0 })))
  return { proc, done }
}
const leaselock = (args: ReadonlyArray<string>): Promise<Outcome> => start(args).done

/** Waits until `file` exists (a command writes it when it starts or gets a signal). */
const appears = async (file: string, ms = 5_000): Promise<void> => {
  for (let waited = 0; !existsSync(file); waited += 10) {
    if (waited > ms) throw new Error(`${file} did not appear within ${ms} ms`)
    await sleep(10)
  }
}

const Args = suite('leaselock: arguments')

Args('durations: units, bare seconds, and what is refused', () => {
  assert.equal(['250ms', '30s', '1.5m', '2h', '10', ' 5s '].map(parseDuration), [250, 30_000, 90_000, 7_200_000, 10_000, 5_000])
  for (const bad of ['', 's', '-1s', '1.5ms', '3 days', '1e3']) assert.is(parseDuration(bad), undefined, bad)
})

Args('a run needs a server, a key, a TTL and a command; the command after -- is left untouched', () => {
  const ok = parseCommand(['run', '--memcached', 'a:1,b', '--key', 'k', '--ttl', '3s', '--wait', '1m', '--', 'sh', '-c', 'echo --ttl', '--'])
  assert.equal(ok, {
    _tag: 'Right',
    right: {
      _tag: 'Run',
      backend: { _tag: 'Memcached', servers: [{ host: 'a', port: 1 }, { host: 'b', port: 11211 }] },
      key: 'k',
      ttlMs: 3_000,
      waitMs: 60_000,
      graceMs: 10_000,
      connectTimeoutMs: 5_000,
      command: ['sh', '-c', 'echo --ttl', '--']
    }
  })
  const refused: ReadonlyArray<[ReadonlyArray<string>, string]> = [
    [['run', '--key', 'k', '--ttl', '1s', '--', 'true'], 'give the lock server'],
    [['run', '--redis', 'localhost', '--key', 'k', '--ttl', '1s', '--', 'true'], '--redis: expected a redis://'],
    [['run', '--redis', 'redis://h', '--memcached', 'h:1', '--key', 'k', '--ttl', '1s', '--', 'true'], 'not both'],
    [['run', '--redis', 'redis://h', '--ttl', '1s', '--', 'true'], '--key is required'],
    [['run', '--redis', 'redis://h', '--key', 'k', '--', 'true'], '--ttl is required'],
    [['run', '--redis', 'redis://h', '--key', 'k', '--ttl', '0s', '--', 'true'], '--ttl: expected a duration'],
    [['run', '--memcached', 'h:1', '--key', 'k', '--ttl', '2s', '--', 'true'], 'at least 3s with --memcached'],
    [['run', '--memcached', 'h:x', '--key', 'k', '--ttl', '5s', '--', 'true'], '--memcached: expected host:port'],
    [['run', '--redis', 'redis://h', '--key', 'k', '--ttl', '1s', '--wait', 'forever', '--', 'true'], '--wait: expected a duration'],
    [['run', '--redis', 'redis://h', '--key', 'k', '--ttl', '1s'], 'give the command to run after --'],
    [['run', '--redis', 'redis://h', '--key', 'k', '--ttl', '1s', 'true'], "Unexpected argument 'true'"],
    [['run', '--redis', 'redis://h', '--key', 'k', '--ttl', '1s', '--verbose', '--', 'true'], "Unknown option '--verbose'"],
    [['run', '--redis'], "Option '--redis <value>' argument missing"],
    [['inspect', '--redis', 'redis://h'], 'inspect takes one KEY, got none'],
    [['inspect', '--redis', 'redis://h', 'a', 'b'], 'inspect takes one KEY, got "a" "b"'],
    [['flock'], 'unknown command "flock"']
  ]
  for (const [args, why] of refused) {
    const r = parseCommand(args)
    assert.ok(r._tag === 'Left' && r.left.message.includes(why), `${args.join(' ')} → ${r._tag === 'Left' ? r.left.message : 'accepted'}`)
  }
})

Args.run()

const Cli = suite('leaselock: the command as a process, on real servers')
let redis: RedisServer
let admin: RedisConnection
let memcached: MemcachedServer
let dir: string
const key = (): string => `cli:${randomToken()}`
/** Waits until a waiter of `k` has joined its queue. */
const queued = async (k: string): Promise<void> => {
  for (let i = 0; i < 500; i++) {
    const members = await admin.driver.send(['ZCARD', `{${k}}:queue`])()
    if (E.isRight(members) && members.right === 2) return
    await sleep(10)
  }
  throw new Error(`nobody queued for ${k}`)
}
const redisRun = (k: string, ...more: ReadonlyArray<string>): ReadonlyArray<string> => ['run', '--redis', redis.url, '--key', k, ...more]

Cli.before(async () => {
  ;[redis, memcached] = await Promise.all([startRedis(), startMemcached()])
  const connected = await connectRedis({ uri: redis.url })()
  if (E.isLeft(connected)) throw new Error('no admin connection')
  admin = connected.right
  dir = mkdtempSync(join(tmpdir(), 'leaselock-cli-'))
})
Cli.after(async () => {
  redis.resume()
  await admin.close()
  await Promise.all([redis.stop(), memcached.stop()])
  rmSync(dir, { recursive: true, force: true })
})

Cli('--help, and a bad flag: the usage on stdout and 0; a one-line reason on stderr and 64', async () => {
  const help = await leaselock(['--help'])
  assert.is(help.status, 0)
  assert.match(help.stdout, 'leaselock run (--redis URL')
  const bad = await leaselock(['run', '--redis', redis.url, '--key', 'k', '--ttl', 'soon', '--', 'true'])
  assert.is(bad.status, EXIT.usage)
  assert.match(bad.stderr, 'leaselock: --ttl: expected a duration like 500ms, 30s, 5m or 1h')
})

Cli('two concurrent runs: one runs the command, the other exits with the held status at once; a third that waits runs after the first, with a greater fence', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const first = start(redisRun(k, '--ttl', '2s', '--', 'sh', '-c', `echo $LEASELOCK_FENCE > '${started}'; sleep 3; exit 3`))
  await appears(started)
  const second = await leaselock(redisRun(k, '--ttl', '2s', '--', 'sh', '-c', 'echo ran'))
  assert.is(second.status, EXIT.held)
  assert.match(second.stderr, `leaselock: ${k} is held by another holder`)
  assert.is(second.stdout, '', 'the held run never ran its command')
  const third = start(redisRun(k, '--ttl', '2s', '--wait', '10s', '--', 'sh', '-c', 'echo $LEASELOCK_FENCE'))
  const firstDone = await first.done
  assert.is(firstDone.status, 3, "the command's own status")
  const thirdDone = await third.done
  assert.is(thirdDone.status, 0)
  assert.ok(BigInt(thirdDone.stdout.trim()) > BigInt(readFileSync(started, 'utf8').trim()), `fences ${readFileSync(started, 'utf8').trim()} then ${thirdDone.stdout.trim()}`)
  const after = await leaselock(['inspect', '--json', '--redis', redis.url, k])
  assert.is(after.status, 0)
  assert.equal(JSON.parse(after.stdout), { key: k, held: false, remainingMs: 0, fence: thirdDone.stdout.trim(), waiters: 0 }, 'released at the end')
})

Cli('a command that outlives its TTL keeps the lease (renewed); signals sent to leaselock reach the command, whose status leaselock exits with', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const got = join(dir, `${k}.term`)
  const run = start(redisRun(k, '--ttl', '500ms', '--', 'sh', '-c', `trap 'echo TERM > "${got}"; exit 9' TERM; touch '${started}'; sleep 30 & wait`))
  await appears(started)
  await sleep(1_200)
  const inspected = await leaselock(['inspect', '--redis', redis.url, k])
  assert.match(inspected.stdout, 'held       yes', 'still held after more than two TTLs')
  run.proc.kill('SIGTERM')
  const done = await run.done
  assert.is(done.status, 9)
  assert.is(readFileSync(got, 'utf8').trim(), 'TERM')
  assert.match((await leaselock(['inspect', '--redis', redis.url, k])).stdout, 'held       no')
})

Cli('the lease is lost (Redis frozen past the TTL): the command gets SIGTERM and leaselock exits with the lost status', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const got = join(dir, `${k}.term`)
  const run = start(redisRun(k, '--ttl', '1s', '--grace', '5s', '--', 'sh', '-c', `trap 'echo TERM > "${got}"; exit 0' TERM; touch '${started}'; sleep 30 & wait`))
  await appears(started)
  redis.pause()
  const t0 = performance.now()
  try {
    await appears(got, 3_000)
  } finally {
    redis.resume()
  }
  const stoppedAfter = performance.now() - t0
  const done = await run.done
  assert.is(done.status, EXIT.lost)
  assert.ok(stoppedAfter < 1_500, `stopped ${stoppedAfter.toFixed(0)} ms after the freeze (TTL 1 s)`)
  assert.match(done.stderr, `leaselock: lost the lease on ${k}`)
})

Cli('a command that ignores SIGTERM is killed (SIGKILL) after the grace period', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const survived = join(dir, `${k}.survived`)
  const run = start(redisRun(k, '--ttl', '1s', '--grace', '300ms', '--', 'sh', '-c', `trap '' TERM; touch '${started}'; sleep 30; touch '${survived}'`))
  await appears(started)
  redis.pause()
  try {
    await sleep(2_000)
  } finally {
    redis.resume()
  }
  const done = await run.done
  assert.is(done.status, EXIT.lost)
  assert.ok(done.ms < 6_000, `ended after ${done.ms.toFixed(0)} ms, not after the command's 30 s`)
  assert.not.ok(existsSync(survived), 'the command was killed, not left to finish')
})

Cli('interrupted while waiting for the lock: exits 130 at once and never runs the command', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const holder = start(redisRun(k, '--ttl', '5s', '--', 'sh', '-c', `touch '${started}'; sleep 3`))
  await appears(started)
  const waiter = start(redisRun(k, '--ttl', '5s', '--wait', '30s', '--', 'sh', '-c', 'echo ran'))
  await queued(k)
  const t0 = performance.now()
  waiter.proc.kill('SIGINT')
  const done = await waiter.done
  assert.is(done.status, 130)
  assert.ok(performance.now() - t0 < 1_000, 'at once')
  assert.is(done.stdout, '')
  assert.is((await holder.done).status, 0)
})

Cli('an unreachable server: the unavailable status within the connect timeout; a command that does not exist: 127', async () => {
  const unreachable = await leaselock(['run', '--redis', 'redis://127.0.0.1:1', '--connect-timeout', '300ms', '--key', 'k', '--ttl', '1s', '--', 'true'])
  assert.is(unreachable.status, EXIT.unavailable)
  assert.match(unreachable.stderr, 'leaselock: Cannot connect to redis://127.0.0.1:1')
  assert.ok(unreachable.ms < 3_000, `after ${unreachable.ms.toFixed(0)} ms`)
  const missing = await leaselock(redisRun(key(), '--ttl', '1s', '--', 'no-such-command-anywhere'))
  assert.is(missing.status, EXIT.notFound)
  assert.match(missing.stderr, 'cannot run "no-such-command-anywhere"')
})

Cli('--cluster: a run and a concurrent held run on a Redis Cluster, and inspect through it', async () => {
  const node = await startSingleNodeCluster()
  try {
    const k = key()
    const started = join(dir, `${k}.started`)
    const clusterRun = (...more: ReadonlyArray<string>): ReadonlyArray<string> => ['run', '--redis', node.url, '--cluster', '--key', k, ...more]
    const first = start(clusterRun('--ttl', '2s', '--', 'sh', '-c', `touch '${started}'; sleep 5`))
    await appears(started)
    const held = await leaselock(clusterRun('--ttl', '2s', '--', 'true'))
    assert.is(held.status, EXIT.held)
    assert.is((await first.done).status, 0)
    const after = await leaselock(['inspect', '--json', '--redis', node.url, '--cluster', k])
    assert.is(after.status, 0)
    assert.equal(JSON.parse(after.stdout).held, false)
    const bad = await leaselock(['run', '--cluster', '--key', k, '--ttl', '1s', '--', 'true'])
    assert.is(bad.status, EXIT.usage)
    assert.match(bad.stderr, '--cluster needs --redis')
  } finally {
    await node.stop()
  }
})

Cli('memcached: a run, a concurrent held run, and inspect telling held and what it cannot', async () => {
  const k = key()
  const started = join(dir, `${k}.started`)
  const server = `${memcached.host}:${memcached.port}`
  const first = start(['run', '--memcached', server, '--key', k, '--ttl', '3s', '--', 'sh', '-c', `touch '${started}'; sleep 6`])
  await appears(started)
  const second = await leaselock(['run', '--memcached', server, '--key', k, '--ttl', '3s', '--', 'true'])
  assert.is(second.status, EXIT.held)
  const inspected = await leaselock(['inspect', '--memcached', server, k])
  assert.is(inspected.status, 0)
  assert.match(inspected.stdout, 'held       yes')
  assert.match(inspected.stdout, "remaining  unknown (memcached's binary protocol cannot read an item's remaining TTL)")
  assert.is((await first.done).status, 0)
  const bad = await leaselock(['inspect', '--memcached', server, 'has space'])
  assert.is(bad.status, EXIT.usage)
})

Cli.run()
