import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { randomToken } from '../src/Environment.js'
import { code } from '../src/LockError.js'
import { makeReadWriteLock } from '../src/permits/ReadWriteLock.js'
import { makeSemaphore } from '../src/permits/Semaphore.js'
import { connectRedis } from '../adapters/node-redis.js'
import { redisPermitStore } from '../src/redis/redisPermitStore.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import './support/noUnhandled.js'

const COMMAND_MS = 400

let server: RedisServer
const S = suite('permits: bad input and server faults on Redis')
S.before(async () => {
  server = await startRedis()
})
S.after(async () => {
  await server?.stop()
})

const open = async () => {
  const connected = await connectRedis({ host: server.host, port: server.port, connectTimeoutMs: 2_000, commandTimeoutMs: COMMAND_MS })()
  if (E.isLeft(connected)) throw new Error(`connect: ${connected.left._tag}`)
  return connected.right
}

S('keys Redis cannot keep in one slot, or reserved for the permits\' companions, are an InvalidArgument before any I/O', async () => {
  let sent = 0
  const semaphore = makeSemaphore(redisPermitStore({ send: () => () => (sent++, Promise.resolve(E.right(null))) }, { maxKeyBytes: 64 }))
  for (const key of ['a}b', 'x{}y', 'jobs:holders', 'jobs:permit-waiters', 'jobs:permit-fence', 'jobs:waiters', 'jobs:fence', 'jobs:queue', 'k'.repeat(65)]) {
    const r = await semaphore.acquire(key, 3, 1_000, 100)()
    assert.ok(E.isLeft(r) && r.left._tag === 'InvalidArgument', key)
  }
  assert.is(sent, 0)
})

S('server frozen (SIGSTOP): acquire, extend and release answer an indeterminate DriverFailure within the command deadline; after SIGCONT the same objects work', async () => {
  const connection = await open()
  const semaphore = makeSemaphore(redisPermitStore(connection.driver))
  const key = `frozen-${randomToken()}`
  const held = await semaphore.acquire(key, 2, 10_000, 0)()
  if (E.isLeft(held)) return assert.unreachable('acquire')
  server.pause()
  try {
    const started = performance.now()
    const [acquired, extended, released] = await Promise.all([semaphore.acquire(key, 2, 10_000, 200)(), semaphore.extend(held.right, 10_000)(), semaphore.release(held.right)()])
    const ms = performance.now() - started
    for (const r of [acquired, extended, released]) assert.ok(E.isLeft(r) && r.left._tag === 'DriverFailure' && r.left.indeterminate, E.isLeft(r) ? code(r.left) : 'granted')
    assert.ok(ms < COMMAND_MS * 3, `settled in ${ms.toFixed(0)} ms`)
  } finally {
    server.resume()
  }
  const again = await semaphore.acquire(key, 2, 10_000, 2_000)()
  assert.ok(E.isRight(again))
  await connection.close()
})

S('server killed mid-wait: a waiting acquireWrite answers a typed error (DRIVER_FAILURE), nothing rejects; after a restart the lock works again', async () => {
  const connection = await open()
  const rw = makeReadWriteLock(redisPermitStore(connection.driver))
  const key = `killed-${randomToken()}`
  const reader = await rw.acquireRead(key, 10_000, 0)()
  assert.ok(E.isRight(reader))
  const waiting = rw.acquireWrite(key, 10_000, 5_000)()
  await new Promise((resolve) => setTimeout(resolve, 100))
  await server.kill()
  const r = await waiting
  assert.ok(E.isLeft(r) && code(r.left) === 'DRIVER_FAILURE', E.isLeft(r) ? code(r.left) : 'granted')
  await server.restart()
  // The client reconnects on its own: until it has, calls fail at once (not sent); within 5 s one must succeed.
  let writer = await rw.acquireWrite(key, 10_000, 0)()
  for (const until = performance.now() + 5_000; E.isLeft(writer) && performance.now() < until; writer = await rw.acquireWrite(key, 10_000, 0)())
    await new Promise((resolve) => setTimeout(resolve, 50))
  assert.ok(E.isRight(writer), E.isLeft(writer) ? code(writer.left) : "")
  await connection.close()
})

S.run()
