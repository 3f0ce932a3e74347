import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { RedisLock, connectRedis } from '../adapters/redis.js'
import { randomToken } from '../src/Environment.js'
import { message } from '../src/LockError.js'
import type { RedisConnection } from '../src/redis/RedisConnection.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import { handoffSuite } from './support/handoffSuite.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep } from './support/expect.js'

handoffSuite('node-redis', async (url) => {
  const r = await connectRedis({ uri: url, connectTimeoutMs: 2000, commandTimeoutMs: 2000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  return r.right
})

const S = suite('RedisLock waits on the queue')
let server: RedisServer
let admin: RedisConnection
const freshKey = (): string => `handoff-class-${randomToken()}`

const queueLength = async (key: string): Promise<number> => {
  const r = await admin.driver.send(['ZCARD', `{${key}}:queue`])()
  if (E.isLeft(r)) throw new Error(String(r.left.cause))
  return Number(r.right as RedisReply) / 2
}

/** Waits until the key's queue holds `length` entries (waiters join asynchronously). */
const queued = async (key: string, length: number): Promise<void> => {
  for (let i = 0; i < 200; i++) {
    if ((await queueLength(key)) === length) return
    await sleep(5)
  }
  throw new Error(`the queue of ${key} never reached ${length}`)
}

S.before(async () => {
  server = await startRedis()
  const r = await connectRedis({ uri: server.url, connectTimeoutMs: 2000 })()
  if (E.isLeft(r)) throw new Error(message(r.left))
  admin = r.right
})

S.after(async () => {
  await admin.close()
  await server.stop()
})

S('RedisLock.acquireLock waits on the queue: handed the key in a few ms with retry_timeout 5000', async () => {
  const open = async (): Promise<RedisLock> => {
    const lock = new RedisLock()
    lock.configure({ 'connection.uri': server.url, 'options.retry_timeout': 5_000 })
    await lock.open(null)
    return lock
  }
  const a = await open()
  const b = await open()
  try {
    const k = freshKey()
    await a.acquireLock(null, k, 10_000, 0)
    const waiting = b.acquireLock(null, k, 10_000, 20_000)
    await queued(k, 1)
    const t0 = performance.now()
    await a.releaseLock(null, k)
    await waiting
    assert.ok(performance.now() - t0 < 200, `handed over after ${(performance.now() - t0).toFixed(1)} ms`)
    await b.releaseLock(null, k)
  } finally {
    await a.close(null)
    await b.close(null)
  }
})

S.run()
