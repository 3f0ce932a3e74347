/**
 * A queue-depth worker process: opens one lock on the Redis server it is
 * given and warms it up; then, each round, starts `count` acquisitions of one
 * key at once (they wait in the process's local line, one of them in the
 * Redis queue), releases each as soon as it is granted, and reports when the
 * last one is done. Forked by `queue.ts`; it exits when told to stop or when
 * its parent goes.
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../adapters/node-redis.js'
import { Lock, makeLock } from '../src/Lock.js'
import { message } from '../src/LockError.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import { redisStore } from '../src/redis/redisStore.js'
import { FromQueueWorker, ToQueueWorker, sharedNow } from './queueProtocol.js'

const send = (m: FromQueueWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve()
    process.send(m, undefined, {}, () => resolve())
  })

let connection: RedisConnection | undefined
let lock: Lock | undefined

const setup = async (url: string): Promise<void> => {
  const connected = await connectRedis({ uri: url, commandTimeoutMs: 30_000 })()
  if (E.isLeft(connected)) throw new Error(message(connected.left))
  connection = connected.right
  lock = makeLock(redisStore(connection.driver))
  // Warm up (connection, compiled code) on a key of this process alone, so the figures start warm.
  for (let i = 0; i < 50; i++) {
    const warm = await lock.acquire(`bench-queue-warm:${process.pid}`, 10_000, 0)()
    if (E.isRight(warm)) await lock.release(warm.right)()
  }
  await send({ type: 'ready' })
}

const round = async (l: Lock, key: string, count: number, ttlMs: number, timeoutMs: number): Promise<void> => {
  let failed = 0
  let lastReleasedAt = 0
  const one = async (): Promise<void> => {
    const lease = await l.acquire(key, ttlMs, timeoutMs)()
    if (E.isLeft(lease)) {
      failed++
      return
    }
    await l.release(lease.right)()
    lastReleasedAt = sharedNow()
  }
  const all = Promise.all(Array.from({ length: count }, one))
  await send({ type: 'launched' })
  await all
  await send({ type: 'done', served: count - failed, failed, lastReleasedAt })
}

const stop = async (): Promise<void> => {
  await connection?.close()
  connection = undefined
  if (process.connected) process.disconnect()
}

const fail = (e: unknown): Promise<void> => send({ type: 'failed', error: e instanceof Error ? e.message : String(e) }).then(stop)

process.on('message', (m: ToQueueWorker) => {
  if (m.type === 'setup') setup(m.url).catch(fail)
  else if (m.type === 'round' && lock !== undefined) round(lock, m.key, m.count, m.ttlMs, m.timeoutMs).catch(fail)
  else void stop()
})
process.on('disconnect', () => void stop())
