/**
 * A child process for the quorum tests: it runs critical sections on one key
 * under a quorum lease over independent Redis servers and reports them.
 *
 * Started with one argument, a JSON {@link QuorumTask}, and an IPC channel: it
 * says `{ ready: true }` once connected, waits for `'go'`, and sends its
 * {@link QuorumReport}.
 */
import { readFile, writeFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../../adapters/node-redis.js'
import { makeLock } from '../../src/Lock.js'
import { code, message } from '../../src/LockError.js'
import { quorumStore } from '../../src/quorum/quorumStore.js'
import type { RedisConnection } from '../../src/redis/RedisConnection.js'
import { redisNode } from '../../src/redis/redisNode.js'

export interface QuorumTask {
  readonly ports: ReadonlyArray<number>
  readonly key: string
  readonly iterations: number
  readonly ttlMs: number
  readonly holdMs: number
  readonly timeoutMs: number
  readonly commandTimeoutMs: number
  /** A file holding a number: each section reads it, waits `holdMs`, and writes it + 1. */
  readonly counterFile: string
}

/** One critical section on the machine's shared monotonic clock, and the lease's fence. */
export interface QuorumSection {
  readonly start: number
  readonly end: number
  readonly fence: string
}

export interface QuorumReport {
  readonly sections: ReadonlyArray<QuorumSection>
  readonly errors: ReadonlyArray<string>
}

const task = JSON.parse(process.argv[2] ?? '{}') as QuorumTask
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const run = async (connections: ReadonlyArray<RedisConnection>): Promise<QuorumReport> => {
  const lock = makeLock(quorumStore(connections.map((c, i) => redisNode(c.driver, { label: `redis 127.0.0.1:${task.ports[i]}` }))))
  const sections: QuorumSection[] = []
  const errors: string[] = []
  for (let i = 0; i < task.iterations; i++) {
    const done = await lock.withLock(task.key, task.ttlMs, { timeoutMs: task.timeoutMs }, (lease) => async () => {
      const start = now()
      const n = Number(await readFile(task.counterFile, 'utf8'))
      await sleep(task.holdMs)
      await writeFile(task.counterFile, String(n + 1))
      return E.right({ start, end: now(), fence: String(lease.fence) })
    })()
    if (E.isLeft(done)) errors.push(`${code(done.left)}: ${message(done.left)}`)
    else sections.push(done.right)
  }
  return { sections, errors }
}

const main = async (): Promise<void> => {
  const opened = await Promise.all(
    task.ports.map((port) => connectRedis({ host: '127.0.0.1', port, connectTimeoutMs: 2_000, commandTimeoutMs: task.commandTimeoutMs })())
  )
  const connections = opened.flatMap((o) => (E.isRight(o) ? [o.right] : []))
  const send = (m: unknown): Promise<void> => new Promise((resolve) => process.send?.(m, () => resolve()))
  try {
    if (connections.length < opened.length) throw new Error('a node did not connect')
    await send({ ready: true })
    await new Promise((resolve) => process.once('message', resolve))
    await send(await run(connections))
  } catch (e) {
    await send({ sections: [], errors: [String(e)] })
  } finally {
    await Promise.all(connections.map((c) => c.close()))
    process.disconnect()
  }
}

void main()
