import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import { randomToken } from '../src/Environment.js'
import { LockException } from '../src/LockError.js'
import { SemaphoreComponent } from '../src/compat/SemaphoreComponent.js'
import { RedisLock, RedisSemaphore, connectRedis } from '../adapters/redis.js'
import { MemcachedLock } from '../adapters/memcached.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

let redis: RedisServer
let memcached: MemcachedServer
const S = suite('SemaphoreComponent: the Pip.Services-style semaphore and read-write lock')
S.before(async () => {
  ;[redis, memcached] = await Promise.all([startRedis(), startMemcached()])
})
S.after(async () => {
  await Promise.all([redis?.stop(), memcached?.stop()])
})

const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof LockException ? `${e.code}${e.traceId === undefined ? '' : ` ${e.traceId}`}` : String(e))
  )

const opened = async (): Promise<RedisSemaphore> => {
  const semaphore = new RedisSemaphore()
  semaphore.configure(ConfigParams.fromTuples('connection.host', redis.host, 'connection.port', redis.port, 'options.retry_timeout', 20))
  await semaphore.open('t')
  return semaphore
}

S('RedisSemaphore: limit permits, then none; a timeout is LOCK_TIMEOUT with the trace id; a release frees one', async () => {
  const semaphore = await opened()
  const key = `class-${randomToken()}`
  const a = await semaphore.acquirePermit('t', key, 2, 10_000, 0)
  await semaphore.acquirePermit('t', key, 2, 10_000, 0)
  assert.is(await semaphore.tryAcquirePermit('t', key, 2, 10_000), undefined)
  assert.is(await codeOf(semaphore.acquirePermit('t7', key, 2, 10_000, 100)), 'LOCK_TIMEOUT t7')
  await semaphore.releasePermit('t', a)
  await semaphore.releasePermit('t', a) // a second release is a quiet no-op
  assert.ok((await semaphore.tryAcquirePermit('t', key, 2, 10_000)) !== undefined)
  await semaphore.close('t')
})

S('RedisSemaphore: bad input is INVALID_ARGUMENT, before open NOT_OPENED; read and write leases exclude each other', async () => {
  const closed = new RedisSemaphore()
  assert.is(await codeOf(closed.acquirePermit('t', 'k', 2, 1_000, 0)), 'NOT_OPENED t')
  const semaphore = await opened()
  assert.is(await codeOf(semaphore.acquirePermit('t', 'k', 0, 1_000, 0)), 'INVALID_ARGUMENT t')
  assert.is(await codeOf(semaphore.acquirePermit('t', 'k:holders', 2, 1_000, 0)), 'INVALID_ARGUMENT t')
  const key = `rw-${randomToken()}`
  const reader = await semaphore.acquireReadLock('t', key, 10_000, 0)
  await semaphore.acquireReadLock('t', key, 10_000, 0)
  assert.is(await codeOf(semaphore.acquireWriteLock('t', key, 10_000, 50)), 'LOCK_TIMEOUT t')
  await semaphore.releasePermit('t', reader)
  await semaphore.close('t')
})

S('close stops a waiting acquisition (ABORTED), releases the permits this instance holds, and leaves the component closed', async () => {
  const semaphore = await opened()
  const key = `close-${randomToken()}`
  await semaphore.acquirePermit('t', key, 1, 60_000, 0)
  const waiting = codeOf(semaphore.acquirePermit('t', key, 1, 60_000, 30_000))
  await new Promise((resolve) => setTimeout(resolve, 50))
  await semaphore.close('t')
  assert.is(await waiting, 'ABORTED t')
  assert.not.ok(semaphore.isOpen())
  const c = await connectRedis({ host: redis.host, port: redis.port })()
  if (E.isLeft(c)) return assert.unreachable('connect')
  assert.equal(await c.right.driver.send(['HLEN', `{${key}}:holders`])(), E.right(0), 'the held permit was released')
  await c.right.close()
})

S('over a Memcached lock component, every call is UNSUPPORTED, with the reason', async () => {
  const semaphore = new SemaphoreComponent(new MemcachedLock())
  semaphore.configure(ConfigParams.fromTuples('connection.host', memcached.host, 'connection.port', memcached.port))
  await semaphore.open('t')
  const thrown = await semaphore.acquirePermit('t', 'k', 2, 10_000, 0).catch((e: unknown) => e)
  assert.ok(thrown instanceof LockException && thrown.code === 'UNSUPPORTED' && /clock/.test(thrown.message), String(thrown))
  await semaphore.close('t')
})

S('over a Redis lock component in redlock mode, the semaphore is UNSUPPORTED', async () => {
  const semaphore = new SemaphoreComponent(new RedisLock())
  const [a, b] = await Promise.all([startRedis(), startRedis()])
  try {
    semaphore.configure({
      connections: { a: { host: redis.host, port: redis.port }, b: { host: a.host, port: a.port }, c: { host: b.host, port: b.port } },
      options: { mode: 'redlock' }
    })
    await semaphore.open('t')
    assert.is(await codeOf(semaphore.tryAcquirePermit('t', 'k', 2, 1_000)), 'UNSUPPORTED t')
    await semaphore.close('t')
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

S('a permit that lands after close began is given back and reported ABORTED; before open, permits() is NotOpened; a bad reference resolver is INVALID_CONFIG', async () => {
  const idle = new RedisSemaphore()
  assert.ok(E.isLeft(idle.permits()) && idle.permits()._tag === 'Left')
  assert.is(await codeOf(Promise.resolve().then(() => idle.setReferences({ discovery: 42 } as never))), 'INVALID_CONFIG')
  const semaphore = await opened()
  const key = `late-${randomToken()}`
  const landing = codeOf(semaphore.tryAcquirePermit('t9', key, 1, 60_000))
  const closed = semaphore.close('t')
  assert.is(await landing, 'ABORTED t9')
  await closed
  const c = await connectRedis({ host: redis.host, port: redis.port })()
  if (E.isLeft(c)) return assert.unreachable('connect')
  assert.equal(await c.right.driver.send(['HLEN', `{${key}}:holders`])(), E.right(0), 'the late permit was given back')
  await c.right.close()
})

S.run()
