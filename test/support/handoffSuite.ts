import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import { randomToken } from '../../src/Environment.js'
import type { Lease } from '../../src/Lease.js'
import { Lock, makeLock } from '../../src/Lock.js'
import { LockError, message } from '../../src/LockError.js'
import { constantDelay } from '../../src/RetryPolicy.js'
import type { RedisConnection } from '../../src/redis/RedisConnection.js'
import type { RedisReply } from '../../src/redis/RedisReply.js'
import { redisStore } from '../../src/redis/redisStore.js'
import type { Queued, Store, WaitQueue } from '../../src/Store.js'
import { RedisServer, startRedis } from './redisServer.js'
import { sleep } from './expect.js'

export type ConnectClient = (url: string) => Promise<RedisConnection>

/**
 * The wake-on-release behaviour every Redis driver with `subscribe` must show,
 * on a real server: each driver's test file calls this with a way to connect.
 */
export const handoffSuite = (name: string, connectClient: ConnectClient): void => {
  /** A retry policy that would poll only after 10 s: anything faster is a handover. */
  const SLOW_POLL = constantDelay(10_000)

  let server: RedisServer
  let admin: RedisConnection
  const clients: RedisConnection[] = []
  let prefix = ''
  let n = 0
  const freshKey = (): string => `${prefix}:${n++}`

  const send = async (command: ReadonlyArray<string>): Promise<RedisReply> => {
    const r = await admin.driver.send(command)()
    if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
    return r.right
  }

  const connect = async (): Promise<RedisConnection> => {
    const connection = await connectClient(server.url)
    clients.push(connection)
    return connection
  }

  /** A lock on its own client (connection + subscriber), with its store. */
  const client = async (options: { retry?: typeof SLOW_POLL; channel?: string; claimMs?: number } = {}): Promise<{ lock: Lock; store: Store; queue: WaitQueue; connection: RedisConnection }> => {
    const connection = await connect()
    const store = redisStore(connection.driver, {
      ...(options.channel !== undefined ? { channel: options.channel } : {}),
      ...(options.claimMs !== undefined ? { claimMs: options.claimMs } : {})
    })
    if (store.queue === undefined) throw new Error('a driver that can subscribe gives the store a queue')
    return { lock: makeLock(store, { retry: options.retry ?? SLOW_POLL }), store, queue: store.queue, connection }
  }

  const leaseOf = (r: E.Either<LockError, Lease>): Lease => {
    if (E.isLeft(r)) throw new Error(`expected a lease, got ${message(r.left)}`)
    return r.right
  }

  const waiting = (r: E.Either<LockError, Queued>): boolean => E.isRight(r) && r.right._tag === 'Waiting'

  const queueLength = async (key: string): Promise<number> => Number(await send(['ZCARD', `{${key}}:queue`])) / 2

  /** Waits until the key's queue holds `length` entries (waiters join asynchronously). */
  const queued = async (key: string, length: number): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      if ((await queueLength(key)) === length) return
      await sleep(5)
    }
    throw new Error(`the queue of ${key} never reached ${length} (has ${await queueLength(key)})`)
  }

  const pubsubClients = async (): Promise<number> => String(await send(['CLIENT', 'LIST', 'TYPE', 'pubsub'])).split('\n').filter((l) => l.trim() !== '').length

  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

  const S = suite(`redis wake-on-release (FIFO direct handoff), ${name}`)

  S.before(async () => {
    server = await startRedis()
    admin = await connectClient(server.url)
    prefix = `handoff-${randomToken()}`
  })

  S.after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await admin.close()
    await server.stop()
  })

  S('the subscriber connection opens only when a lock first waits, once per client, and closes with it', async () => {
    const before = await pubsubClients()
    const a = await client()
    const b = await client()
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 10_000, 1_000)())
    assert.equal(await b.lock.tryAcquire(k, 10_000)(), E.right(O.none))
    assert.is(await queueLength(k), 0, 'tryAcquire is one attempt: it never queues')
    assert.is(await pubsubClients(), before, 'nothing waited yet: no subscriber connection')
    const waiters = [b.lock.acquire(k, 10_000, 5_000)(), b.lock.acquire(k, 10_000, 5_000)()]
    await queued(k, 1)
    await sleep(20)
    assert.is(await queueLength(k), 1, 'the two waiters of one lock hold one place in the queue')
    assert.is(await pubsubClients(), before + 1, 'one subscriber connection for both waiters of the client')
    await a.lock.release(holder)()
    await b.lock.release(leaseOf(await waiters[0]!))()
    await b.lock.release(leaseOf(await waiters[1]!))()
    await b.connection.close()
    assert.is(await pubsubClients(), before, 'closed with the client')
  })

  S('a release hands the key to the first waiter in a few ms, although its retry policy would poll only after 10 s', async () => {
    const a = await client()
    const b = await client()
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 10_000, 0)())
    const waiting = b.lock.acquire(k, 20_000, 30_000)()
    await queued(k, 1)
    const timersBefore = timers()
    const t0 = performance.now()
    assert.equal(await a.lock.release(holder)(), E.right(undefined))
    const next = leaseOf(await waiting)
    const ms = performance.now() - t0
    assert.ok(ms < 200, `handed over after ${ms.toFixed(1)} ms`)
    assert.ok(next.fence > holder.fence, 'a greater fencing token')
    assert.is(await send(['GET', k]), next.token)
    const pttl = Number(await send(['PTTL', k]))
    assert.ok(pttl > 19_000 && pttl <= 20_000, `claimed with the waiter's own TTL, PTTL ${pttl}`)
    assert.is(await queueLength(k), 0)
    assert.is(await send(['EXISTS', `{${k}}:queue`, `{${k}}:waiters`]), 0, 'an empty queue is gone, and its index')
    assert.ok(timers() <= timersBefore, 'no timer left behind by the wait')
    await b.lock.release(next)()
  })

  S('waiters of two clients are served in arrival order, each client holding one place in the queue', async () => {
    const a = await client()
    const b = await client()
    const k = freshKey()
    let current = leaseOf(await a.lock.acquire(k, 10_000, 0)())
    const order: number[] = []
    const waiters: Array<Promise<Lease>> = []
    for (let i = 0; i < 6; i++) {
      const lock = i % 2 === 0 ? a.lock : b.lock
      waiters.push(
        lock.acquire(k, 10_000, 30_000)().then((r) => {
          order.push(i)
          return leaseOf(r)
        })
      )
      if (i < 2) await queued(k, i + 1)
      else await sleep(20)
    }
    assert.is(await queueLength(k), 2, 'one place per client; the other waiters wait their turn in their process')
    const fences = [current.fence]
    for (let i = 0; i < 6; i++) {
      await (i === 0 || i % 2 === 1 ? a.lock : b.lock).release(current)()
      current = await waiters[i]!
      fences.push(current.fence)
    }
    await b.lock.release(current)()
    assert.equal(order, [0, 1, 2, 3, 4, 5])
    for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!, 'fences grow along the queue')
  })

  S('a waiter that timed out or was aborted has left the queue; the next live waiter gets the key', async () => {
    const a = await client()
    const b = await client()
    const c = await client()
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 10_000, 0)())
    const quitter = b.lock.acquire(k, 10_000, 300)()
    await queued(k, 1)
    const controller = new AbortController()
    const aborted = a.lock.acquire(k, 10_000, 30_000, { signal: controller.signal })()
    await queued(k, 2)
    const patient = c.lock.acquire(k, 10_000, 30_000)()
    await queued(k, 3)
    controller.abort('changed my mind')
    const q = await quitter
    const x = await aborted
    assert.ok(E.isLeft(q) && q.left._tag === 'Timeout')
    assert.ok(E.isLeft(x) && x.left._tag === 'Aborted')
    await queued(k, 1)
    const t0 = performance.now()
    await a.lock.release(holder)()
    const lease = leaseOf(await patient)
    assert.ok(performance.now() - t0 < 200, 'handed straight to the patient waiter')
    await c.lock.release(lease)()
  })

  S('a waiter that timed out waiting its turn behind another waiter of its own lock sent nothing; the next one takes its place', async () => {
    const a = await client()
    const b = await client()
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 10_000, 0)())
    const first = b.lock.acquire(k, 10_000, 30_000)()
    await queued(k, 1)
    const quitter = await b.lock.acquire(k, 10_000, 100)()
    assert.ok(E.isLeft(quitter) && quitter.left._tag === 'Timeout' && quitter.left.attempts === 0, 'timed out in line, no request sent')
    const third = b.lock.acquire(k, 10_000, 30_000)()
    await a.lock.release(holder)()
    const lease = leaseOf(await first)
    await queued(k, 1)
    await b.lock.release(lease)()
    await b.lock.release(leaseOf(await third))()
    assert.is(await queueLength(k), 0)
  })

  S('a waiter that vanished without leaving is skipped once its deadline passed', async () => {
    const a = await client()
    const b = await client()
    const k = freshKey()
    await a.store.acquire(k, 'holder', 10_000)()
    assert.ok(waiting(await b.queue.acquireOrEnqueue(k, 'ghost', 10_000, 50)()), 'queued for 50 ms, then gone')
    const patient = a.lock.acquire(k, 10_000, 30_000)()
    await queued(k, 2)
    await sleep(80)
    const t0 = performance.now()
    assert.equal(await a.store.release({ key: k, token: 'holder', revision: '' })(), E.right(true))
    const lease = leaseOf(await patient)
    assert.ok(performance.now() - t0 < 200, 'the ghost was skipped, not handed the key')
    assert.is(await queueLength(k), 0, 'its entry is dropped')
    await a.lock.release(lease)()
    assert.ok(O.isNone(await b.queue.awaitHandoff(k, 'ghost', 0, 0n)))
    await b.queue.leave(k, 'ghost')()
  })

  S('a handover that races a waiter\'s exit is passed on to the next waiter', async () => {
    const a = await client()
    const b = await client()
    const c = await client()
    const k = freshKey()
    await a.store.acquire(k, 'holder', 10_000)()
    assert.ok(waiting(await b.queue.acquireOrEnqueue(k, 'first', 10_000, 30_000)()))
    assert.ok(waiting(await c.queue.acquireOrEnqueue(k, 'second', 10_000, 30_000)()))
    assert.equal(await a.store.release({ key: k, token: 'holder', revision: '' })(), E.right(true))
    assert.is(await send(['GET', k]), 'first', 'handed to the first waiter')
    const claim = Number(await send(['PTTL', k]))
    assert.ok(claim > 0 && claim <= 1_000, `for the claim TTL only, PTTL ${claim}`)
    assert.equal(await b.queue.leave(k, 'first')(), E.right(undefined))
    assert.is(await send(['GET', k]), 'second', 'the exiting waiter passed the key on')
    const handed = await c.queue.awaitHandoff(k, 'second', 2_000, 0n)
    assert.ok(O.isSome(handed), 'and the second waiter was notified')
    assert.equal(await c.store.extend({ key: k, token: 'second', revision: handed.value.revision }, 10_000)(), E.right(O.some({ fence: handed.value.fence, validityMs: 10_000, revision: handed.value.revision })))
    assert.equal(await c.store.release({ key: k, token: 'second', revision: handed.value.revision })(), E.right(true))
    assert.is(await send(['EXISTS', k, `{${k}}:queue`, `{${k}}:waiters`]), 0)
  })

  S('two keys that share a queue ("k" and "{k}") are each handed only to their own waiters; any token and channel text works', async () => {
    const a = await client()
    const b = await client({ channel: `wake me up\n${randomToken()}` })
    const plain = freshKey()
    const tagged = `{${plain}}`
    await a.store.acquire(tagged, 'holder of tagged', 10_000)()
    await a.store.acquire(plain, 'holder of plain', 10_000)()
    const forTagged = 'waits for tagged\n with spaces'
    const forPlain = 'waits for plain'
    assert.ok(waiting(await b.queue.acquireOrEnqueue(tagged, forTagged, 10_000, 30_000)()))
    assert.ok(waiting(await b.queue.acquireOrEnqueue(plain, forPlain, 10_000, 30_000)()))
    await queued(plain, 2)
    assert.equal(await a.store.release({ key: plain, token: 'holder of plain', revision: '' })(), E.right(true))
    assert.is(await send(['GET', plain]), forPlain, 'the plain key went to its own waiter, not the first in the shared queue')
    assert.ok(O.isSome(await b.queue.awaitHandoff(plain, forPlain, 2_000, 0n)))
    await queued(plain, 1)
    assert.equal(await a.store.release({ key: tagged, token: 'holder of tagged', revision: '' })(), E.right(true))
    assert.is(await send(['GET', tagged]), forTagged)
    const handed = await b.queue.awaitHandoff(tagged, forTagged, 2_000, 0n)
    assert.ok(O.isSome(handed), 'notified on a channel with a space and a newline')
    await b.store.release({ key: tagged, token: forTagged, revision: '' })()
    await b.store.release({ key: plain, token: forPlain, revision: '' })()
    assert.is(await send(['EXISTS', plain, tagged, `{${plain}}:queue`, `{${plain}}:waiters`]), 0)
  })

  S('a handover nobody claims expires after the claim TTL of the waiter\'s own client, whatever the releaser\'s', async () => {
    const a = await client({ claimMs: 5_000 })
    const b = await client({ claimMs: 200 })
    const k = freshKey()
    await a.store.acquire(k, 'holder', 10_000)()
    await b.queue.acquireOrEnqueue(k, 'crashed', 10_000, 30_000)()
    await a.store.release({ key: k, token: 'holder', revision: '' })()
    assert.is(await send(['GET', k]), 'crashed')
    const pttl = Number(await send(['PTTL', k]))
    assert.ok(pttl > 0 && pttl <= 200, `the waiter's claim TTL (200), not the releaser's (5000): PTTL ${pttl}`)
    assert.equal(await a.store.acquire(k, 'other', 1_000)(), E.right(O.none))
    await sleep(250)
    assert.ok(O.isSome((await a.store.acquire(k, 'other', 1_000)() as E.Right<O.Option<unknown>>).right), 'free after the claim TTL')
    await a.store.release({ key: k, token: 'other', revision: '' })()
    await b.queue.leave(k, 'crashed')()
  })

  S('a holder that expires wakes nobody: the waiter takes the free key on its poll', async () => {
    const a = await client()
    const b = await client({ retry: constantDelay(100) })
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 300, 0)())
    const t0 = performance.now()
    const lease = leaseOf(await b.lock.acquire(k, 10_000, 5_000)())
    const ms = performance.now() - t0
    assert.ok(ms >= 250 && ms < 1_000, `taken after ${ms.toFixed(0)} ms`)
    assert.ok(lease.fence > holder.fence)
    assert.is(await queueLength(k), 0, 'the poll that took the key left the queue')
    await b.lock.release(lease)()
  })

  S('a lost notification (subscriber connection killed) is caught by the poll; the subscription comes back', async () => {
    const a = await client()
    const channel = `leaselock:wake:test-${randomToken()}`
    const b = await client({ retry: constantDelay(150), channel })
    const k = freshKey()
    const holder = leaseOf(await a.lock.acquire(k, 10_000, 0)())
    const waiting = b.lock.acquire(k, 10_000, 10_000)()
    await queued(k, 1)
    assert.equal(await send(['PUBSUB', 'NUMSUB', channel]), [channel, 1])
    assert.ok(Number(await send(['CLIENT', 'KILL', 'TYPE', 'pubsub'])) >= 1)
    assert.equal(await send(['PUBSUB', 'NUMSUB', channel]), [channel, 0], 'nobody listens while it reconnects')
    await a.lock.release(holder)()
    const lease = leaseOf(await waiting)
    const pttl = Number(await send(['PTTL', k]))
    assert.ok(pttl > 9_000, `the poll claimed the handed key with the full TTL, PTTL ${pttl}`)
    assert.ok(lease.fence > holder.fence)
    for (let i = 0; i < 100 && Number((await send(['PUBSUB', 'NUMSUB', channel]) as ReadonlyArray<RedisReply>)[1]) === 0; i++) await sleep(20)
    assert.equal(await send(['PUBSUB', 'NUMSUB', channel]), [channel, 1], 'the client resubscribed by itself')
    const again = a.lock.acquire(k, 10_000, 30_000)()
    await queued(k, 1)
    await b.lock.release(lease)()
    await a.lock.release(leaseOf(await again))()
  })

  S('nothing is left behind but the fencing counters', async () => {
    const keys = (await send(['KEYS', `${prefix}*`])) as ReadonlyArray<string>
    const braced = (await send(['KEYS', `{${prefix}*`])) as ReadonlyArray<string>
    assert.equal(keys, [], 'no lock key')
    assert.equal(
      braced.filter((k) => !k.endsWith(':fence')),
      [],
      'no queue, no queue index'
    )
  })

  S.run()
}
