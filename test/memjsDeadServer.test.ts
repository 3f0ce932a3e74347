/**
 * A dead memcached server costs little: after a refused connection the driver
 * leaves the server alone for a jittered, doubling while (at most
 * SERVER_BACKOFF_MAX_MS), failing calls for its keys at once and without a
 * socket, and tries again once the while has passed.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { Client } from 'memjs'
import { SERVER_BACKOFF_MAX_MS, ServerDownError, memjsDriver } from '../adapters/memjs.js'
import { makeLock } from '../src/Lock.js'
import { memcachedStore } from '../src/memcached/memcachedStore.js'
import { freePort } from './support/freePort.js'
import { MemcachedServer, startMemcached } from './support/memcachedServer.js'
import { sleep } from './support/expect.js'
import { connectsDuring } from './support/connects.js'

const quiet = { log: (): void => undefined }
const S = suite('memjs driver: a dead server is backed off')

let server: MemcachedServer | undefined
S.after(async () => {
  await server?.stop()
})

S('calls to a server that refuses connections fail at once without opening a socket each, and recover within one backoff step once it is back', async () => {
  const port = await freePort()
  const client = Client.create(`127.0.0.1:${port}`, { retries: 1, logger: quiet })
  const lock = makeLock(memcachedStore(memjsDriver(client, { commandTimeoutMs: 1_000 })))
  const { result: failures, connects } = await connectsDuring(async () => {
    const causes: unknown[] = []
    const until = performance.now() + 300
    while (performance.now() < until) {
      const r = await lock.tryAcquire('dead:key', 10_000)()
      if (E.isLeft(r) && r.left._tag === 'DriverFailure') causes.push(r.left.cause)
      await sleep(1)
    }
    return causes
  }, port)
  assert.ok(failures.length > 50, `${failures.length} calls in 300 ms, each answered`)
  assert.ok(failures.some((c) => c instanceof ServerDownError), 'most answered from the backoff, without a socket')
  assert.ok(connects < 20, `${connects} connection attempts for ${failures.length} calls (one per backoff step, not one per call)`)
  server = await startMemcached({ port })
  const back = performance.now()
  let recovered = false
  while (!recovered && performance.now() - back < SERVER_BACKOFF_MAX_MS + 500) {
    const r = await lock.tryAcquire('dead:key', 10_000)()
    recovered = E.isRight(r)
    if (!recovered) await sleep(5)
  }
  assert.ok(recovered, 'works again within one backoff step of the server coming back')
  assert.ok(performance.now() - back <= SERVER_BACKOFF_MAX_MS + 500)
  client.close()
})

S.run()
