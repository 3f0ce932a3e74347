import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ChildProcess, fork } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { RedisLock } from '../adapters/redis.js'
import { connectRedis } from '../adapters/node-redis.js'
import { randomToken } from '../src/Environment.js'
import { Lock, makeLock } from '../src/Lock.js'
import { LockError, code, message } from '../src/LockError.js'
import { quorumStore } from '../src/quorum/quorumStore.js'
import { fenceKey } from '../src/redis/keys.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { redisFenceCounter, redisNode } from '../src/redis/redisNode.js'
import { redisStore } from '../src/redis/redisStore.js'
import { freePort } from './support/freePort.js'
import { sleep, thrown } from './support/expect.js'
import type { QuorumReport, QuorumSection, QuorumTask } from './support/quorumWorker.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

/** The compiled worker next to this file (or its source when this file runs under tsx). */
const WORKER = fileURLToPath(new URL(`./support/quorumWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))

// Deadlines of these tests; bounds asserted are deadline + SLACK (correctness, not speed).
const COMMAND_MS = 300
const SLACK = 400

const S = suite('quorum over three independent redis-server processes')

let servers: RedisServer[] = []
let connections: RedisConnection[] = []
/** One more connection per server, for looking at what it holds. */
let controls: RedisConnection[] = []
let lock: Lock
const labels = (): string[] => servers.map((s) => `redis 127.0.0.1:${s.port}`)
const key = (what: string): string => `quorum:${what}:${randomToken()}`

const connect = async (port: number, commandTimeoutMs = COMMAND_MS): Promise<RedisConnection> => {
  const c = await connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2_000, commandTimeoutMs })()
  if (E.isLeft(c)) throw new Error(`connect ${port}: ${message(c.left)}`)
  return c.right
}
const send = async (c: RedisConnection, command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await c.driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')}: ${String(r.left.cause)}`)
  return r.right
}
/** Which servers hold `k` right now. */
const holders = (k: string): Promise<number[]> => Promise.all(controls.map(async (c) => Number(await send(c, ['EXISTS', k]))))
/** Asserts which servers hold `k`, once the calls a decision did not wait for have landed (within a second). */
const holding = async (k: string, expected: ReadonlyArray<number>, what?: string): Promise<void> => {
  let seen = await holders(k)
  for (let waited = 0; waited < 1_000 && JSON.stringify(seen) !== JSON.stringify(expected); waited += 20) {
    await sleep(20)
    seen = await holders(k)
  }
  assert.equal(seen, expected, what)
}
const right = <A>(r: E.Either<LockError, A>, what: string): A => {
  if (E.isLeft(r)) throw new Error(`${what}: ${message(r.left)}`)
  return r.right
}
const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t0 = performance.now()
  const a = await f()
  return [a, performance.now() - t0]
}
/** SIGSTOP, and a moment for the signal to stop the server before anything is sent. */
const freeze = async (s: RedisServer): Promise<void> => {
  s.pause()
  await sleep(50)
}
/** SIGCONT, and time for the server to work through what queued up meanwhile. */
const thaw = async (s: RedisServer): Promise<void> => {
  s.resume()
  await sleep(300)
}

S.before(async () => {
  servers = await Promise.all([startRedis(), startRedis(), startRedis()])
  connections = await Promise.all(servers.map((s) => connect(s.port)))
  controls = await Promise.all(servers.map((s) => connect(s.port, 2_000)))
  lock = makeLock(quorumStore(connections.map((c, i) => redisNode(c.driver, { label: labels()[i] }))))
})
S.after(async () => {
  servers.forEach((s) => s.resume())
  await Promise.all([...connections, ...controls].map((c) => c.close()))
  await Promise.all(servers.map((s) => s.stop()))
})

S('nodes without a label are named by their store and position', async () => {
  const unnamed = makeLock(quorumStore(connections.map((c) => redisNode(c.driver))))
  await freeze(servers[1]!)
  await freeze(servers[2]!)
  try {
    const r = await unnamed.tryAcquire(key('unnamed'), 1_000)()
    assert.ok(E.isLeft(r))
    assert.match(message(r.left), /redis #2: no answer, outcome unknown .*; redis #3: no answer, outcome unknown/)
  } finally {
    await thaw(servers[1]!)
    await thaw(servers[2]!)
  }
})

S('quorumStore over plain redisStores from connectRedis just works (no fence counter: fence 0)', async () => {
  const plain = makeLock(quorumStore(connections.map((c) => redisStore(c.driver))))
  const k = key('plain')
  const lease = right(await plain.acquire(k, 5_000, 1_000)(), 'acquire')
  assert.is(lease.fence, 0n)
  await holding(k, [1, 1, 1])
  assert.ok(O.isNone(right(await plain.tryAcquire(k, 5_000)(), 'second')))
  right(await plain.release(lease)(), 'release')
  await holding(k, [0, 0, 0])
})

S('one node frozen: acquire, extend and release keep working without waiting for it, and it holds nothing once thawed', async () => {
  await freeze(servers[2]!)
  const keys: string[] = []
  try {
    for (let i = 0; i < 5; i++) {
      const k = key('one-frozen')
      keys.push(k)
      const [lease, acquireMs] = await timed(() => lock.acquire(k, 10_000, 1_000)())
      assert.ok(acquireMs < COMMAND_MS, `acquire took ${acquireMs} ms: it waited for the frozen node`)
      const extended = right(await lock.extend(right(lease, 'acquire'), 10_000)(), 'extend')
      const [released, releaseMs] = await timed(() => lock.release(extended)())
      right(released, 'release')
      assert.ok(releaseMs < COMMAND_MS, `release took ${releaseMs} ms`)
    }
  } finally {
    await thaw(servers[2]!)
  }
  for (const k of keys) await holding(k, [0, 0, 0], `${k} left behind`)
})

S('two nodes frozen: NO_QUORUM naming them, within the command deadline; nothing left behind, on the node that answered at once, on the others once thawed', async () => {
  const k = key('two-frozen')
  await freeze(servers[1]!)
  await freeze(servers[2]!)
  let e: LockError
  try {
    const [r, ms] = await timed(() => lock.tryAcquire(k, 10_000)())
    assert.ok(ms < COMMAND_MS + SLACK, `failed after ${ms} ms`)
    assert.ok(E.isLeft(r))
    e = r.left
    await sleep(50)
    assert.is(await send(controls[0]!, ['EXISTS', k]), 0, 'the grant of the node that answered was given back')
  } finally {
    await thaw(servers[1]!)
    await thaw(servers[2]!)
  }
  assert.is(code(e), 'NO_QUORUM')
  const [a, b, c] = labels()
  assert.match(message(e), `${a}: granted`)
  assert.match(message(e), `${b}: no answer, outcome unknown (Redis did not reply within ${COMMAND_MS} ms)`)
  assert.match(message(e), `${c}: no answer, outcome unknown (Redis did not reply within ${COMMAND_MS} ms)`)
  await holding(k, [0, 0, 0], 'the late grants were given back after they landed')
})

S('fences strictly increase while the frozen node rotates', async () => {
  const k = key('rotate')
  let last = 0n
  for (const frozen of [0, 1, 2, 0, 1, 2]) {
    await freeze(servers[frozen]!)
    try {
      for (let i = 0; i < 3; i++) {
        const lease = right(await lock.acquire(k, 10_000, 1_000)(), `acquire with node ${frozen} frozen`)
        assert.ok(lease.fence > last, `fence ${lease.fence} after ${last} (node ${frozen} frozen)`)
        last = lease.fence
        right(await lock.release(lease)(), 'release')
      }
    } finally {
      await thaw(servers[frozen]!)
    }
  }
})

S('the fence counter: set if greater, exact beyond 2^53, shared with the store\'s own counter, recovering from SCRIPT FLUSH', async () => {
  const counter = redisFenceCounter(controls[0]!.driver)
  const k = key('counter')
  assert.equal(await counter.raise(k, 0n)(), E.right(0n), 'a missing counter reads 0')
  const big = 2n ** 60n + 1n
  assert.equal(await counter.raise(k, big)(), E.right(big))
  assert.equal(await counter.raise(k, big - 1n)(), E.right(big), 'never lowered')
  assert.equal(await counter.raise(k, 99n)(), E.right(big), 'fewer digits are smaller')
  const counterTtl = Number(await send(controls[0]!, ['PTTL', `{${k}}:fence`]))
  assert.ok(counterTtl > 86_000_000 && counterTtl <= 86_400_000, `a raised counter expires after the idle period (a day): PTTL ${counterTtl}`)
  const shortLived = `${k}:short`
  assert.equal(await redisFenceCounter(controls[0]!.driver, 40).raise(shortLived, 5n)(), E.right(5n))
  await new Promise((resolve) => setTimeout(resolve, 80))
  assert.equal(await counter.raise(shortLived, 0n)(), E.right(0n), 'gone after its idle period')
  const store = redisStore(controls[0]!.driver)
  const grant = right(await store.acquire(k, 't', 1_000)(), 'acquire')
  assert.ok(O.isSome(grant) && grant.value.fence === big + 1n, 'the acquire script increments the same counter')
  await send(controls[0]!, ['SCRIPT', 'FLUSH'])
  assert.equal(await counter.raise(k, 2n ** 62n)(), E.right(2n ** 62n))
  const fence = fenceKey(k)
  if (E.isLeft(fence)) throw new Error('fence key')
  await send(controls[0]!, ['SET', fence.right, 'not a number'])
  const bad = await counter.raise(k, 5n)()
  assert.ok(E.isLeft(bad) && bad.left._tag === 'DriverFailure' && bad.left.indeterminate, 'an unexpected reply is a failure')
  await send(controls[0]!, ['DEL', fence.right])
  await send(controls[0]!, ['RPUSH', fence.right, 'x'])
  const wrong = await counter.raise(k, 5n)()
  assert.ok(E.isLeft(wrong) && wrong.left._tag === 'DriverFailure' && /WRONGTYPE/.test(String(wrong.left.cause)), 'an error reply is a failure')
  assert.ok(E.isLeft(await counter.raise('a}b', 1n)()), 'a key whose counter cannot share its slot')
})

/** Pairs of sections (sorted by start) where the later one began before the earlier one ended. */
const overlaps = (sections: ReadonlyArray<QuorumSection>): number => {
  const sorted = [...sections].sort((a, b) => a.start - b.start)
  return sorted.slice(1).filter((s, i) => s.start < sorted[i]!.end).length
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()))

S('4 processes × 25 critical sections, one node frozen midway: exact counter, no overlaps, fences in section order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'leaselock-quorum-'))
  const counterFile = join(dir, 'counter')
  await writeFile(counterFile, '0')
  const task: QuorumTask = {
    ports: servers.map((s) => s.port),
    key: key('exclusion'),
    iterations: 25,
    ttlMs: 5_000,
    holdMs: 3,
    timeoutMs: 30_000,
    commandTimeoutMs: COMMAND_MS,
    counterFile
  }
  const children = Array.from({ length: 4 }, () => fork(WORKER, [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const killer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 90_000)
  try {
    const messages = children.map((child) => {
      const ready = new Promise<void>((resolve) => child.on('message', (m: unknown) => m !== null && typeof m === 'object' && 'ready' in m && resolve()))
      const report = new Promise<QuorumReport>((resolve, reject) => {
        child.on('message', (m: unknown) => m !== null && typeof m === 'object' && 'sections' in m && resolve(m as QuorumReport))
        child.once('exit', (c) => reject(new Error(`worker exited (${c}) without a report`)))
      })
      report.catch(() => undefined)
      return { ready, report }
    })
    await Promise.all(messages.map((m) => m.ready))
    children.forEach((c) => c.send('go'))
    // Midway: once a third of the sections are done, freeze a node until the end.
    while (Number(await readFile(counterFile, 'utf8')) < 33) await sleep(5)
    await freeze(servers[1]!)
    const reports = await Promise.all(messages.map((m) => m.report)).finally(() => thaw(servers[1]!))
    const sections = reports.flatMap((r) => r.sections)
    assert.equal(reports.flatMap((r) => r.errors), [])
    assert.is(Number(await readFile(counterFile, 'utf8')), 100, 'exact counter')
    assert.is(sections.length, 100)
    assert.is(overlaps(sections), 0, 'overlapping critical sections')
    const fences = [...sections].sort((a, b) => a.start - b.start).map((s) => BigInt(s.fence))
    assert.ok(fences.every((f, i) => i === 0 || f > fences[i - 1]!), `fences in section order: ${fences.join(' ')}`)
    await Promise.all(children.map(exited))
  } finally {
    clearTimeout(killer)
    children.forEach((c) => c.kill('SIGKILL'))
    await rm(dir, { recursive: true, force: true })
  }
})

const component = (ports: ReadonlyArray<number>, options: Record<string, unknown> = {}): RedisLock => {
  const c = new RedisLock()
  c.configure({
    connections: Object.fromEntries(ports.map((port, i) => [`node${i}`, { host: '127.0.0.1', port }])),
    options: { mode: 'redlock', connect_timeout: 2_000, command_timeout: COMMAND_MS, retry_timeout: 20, ...options }
  })
  return c
}

S('RedisLock with options.mode = redlock: every connection a node; works with one node frozen, NO_QUORUM with two', async () => {
  const redlock = component(servers.map((s) => s.port))
  await redlock.open('t-1')
  try {
    const k = key('component')
    assert.ok(await redlock.tryAcquireLock('t-2', k, 10_000))
    await holding(k, [1, 1, 1])
    assert.not.ok(await redlock.tryAcquireLock('t-3', k, 10_000))
    await redlock.releaseLock('t-4', k)
    await freeze(servers[0]!)
    try {
      await redlock.acquireLock('t-5', k, 10_000, 1_000)
      await redlock.releaseLock('t-6', k)
      await freeze(servers[1]!)
      const e = await thrown(() => redlock.acquireLock('t-7', k, 10_000, 1_000))
      assert.is(e.code, 'NO_QUORUM')
      assert.is(e.traceId, 't-7')
      assert.match(e.message, `redis 127.0.0.1:${servers[0]!.port}: no answer, outcome unknown`)
      assert.match(e.message, `redis 127.0.0.1:${servers[1]!.port}: no answer, outcome unknown`)
    } finally {
      await thaw(servers[0]!)
      await thaw(servers[1]!)
    }
    await holding(k, [0, 0, 0])
    const core = redlock.lock()
    if (E.isLeft(core)) throw new Error('not open')
    const lease = right(await core.right.acquire(key('fenced'), 1_000, 0)(), 'core acquire')
    assert.ok(lease.fence > 0n, 'fenced by default')
    right(await core.right.release(lease)(), 'core release')
  } finally {
    await redlock.close('t-8')
  }
})

S('RedisLock redlock: fewer than 3 nodes is INVALID_CONFIG; a node that cannot connect fails open naming it; 4 nodes work; fencing can be off', async () => {
  const two = component(servers.slice(0, 2).map((s) => s.port))
  const few = await thrown(() => two.open('t-1'))
  assert.is(few.code, 'INVALID_CONFIG')
  assert.match(few.message, 'options.mode redlock needs at least 3 connections (independent Redis servers), got 2')

  const nowhere = await freePort()
  const missing = component([...servers.map((s) => s.port), nowhere])
  const down = await thrown(() => missing.open('t-2'))
  assert.is(down.code, 'CONNECT_FAILED')
  assert.match(down.message, `127.0.0.1:${nowhere}`)
  const alsoNowhere = await freePort()
  const twoDown = await thrown(() => component([servers[0]!.port, nowhere, alsoNowhere]).open('t-2'))
  assert.is(twoDown.code, 'CONNECT_FAILED')
  assert.match(twoDown.message, `Cannot connect to 127.0.0.1:${nowhere}, 127.0.0.1:${alsoNowhere}: `)

  const fourth = await startRedis()
  try {
    const four = component([...servers.map((s) => s.port), fourth.port], { fencing: false })
    await four.open('t-3')
    const core = four.lock()
    if (E.isLeft(core)) throw new Error('not open')
    const lease = right(await core.right.acquire(key('four'), 1_000, 0)(), 'acquire over 4')
    assert.is(lease.fence, 0n, 'fencing off')
    right(await core.right.release(lease)(), 'release over 4')
    await four.close('t-4')
  } finally {
    await fourth.stop()
  }
  assert.throws(() => component([1, 2, 3], { mode: 'quorum' }), /options.mode: expected one of "standalone", "cluster", "sentinel", "redlock" \("single" is "standalone"\), got "quorum"/)
})

S.run()
