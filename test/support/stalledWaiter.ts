/**
 * A waiting process for the stall tests: forked with one argument, a JSON
 * {@link WaiterTask}, and an IPC channel. It connects, says `{ ready: true }`,
 * and on `'go'` waits for the key on the queue (notifications on, fallback
 * polls every `pollMs`); it reports the lease it was answered as a
 * {@link WaiterReport} (with how long it believes the lease valid), then
 * holds it until told `'release'`, releases it, closes, and ends by itself.
 */
import * as E from 'fp-ts/lib/Either.js'
import { connectRedis } from '../../adapters/node-redis.js'
import { makeLock } from '../../src/Lock.js'
import { message } from '../../src/LockError.js'
import { constantDelay } from '../../src/RetryPolicy.js'
import { redisStore } from '../../src/redis/redisStore.js'

/** What the waiter is asked to do. */
export interface WaiterTask {
  readonly port: number
  readonly key: string
  readonly ttlMs: number
  readonly timeoutMs: number
  readonly claimMs: number
  readonly pollMs: number
}

/** The lease the waiter was answered (fence as a decimal string), or why it got none. */
export type WaiterReport =
  | { readonly lease: { readonly token: string; readonly fence: string; readonly believedMs: number } }
  | { readonly error: string }

const task = JSON.parse(process.argv[2] ?? '{}') as WaiterTask
const send = process.send?.bind(process)

const run = async (): Promise<void> => {
  if (send === undefined) return
  const connected = await connectRedis({ host: '127.0.0.1', port: task.port, connectTimeoutMs: 2_000, commandTimeoutMs: 2_000 })()
  if (E.isLeft(connected)) return void send({ error: message(connected.left) }, () => process.disconnect())
  const lock = makeLock(redisStore(connected.right.driver, { claimMs: task.claimMs }), { retry: constantDelay(task.pollMs) })
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve())
    send({ ready: true })
  })
  const answered = await lock.acquire(task.key, task.ttlMs, task.timeoutMs)()
  if (E.isLeft(answered)) {
    send({ error: message(answered.left) })
  } else {
    const lease = answered.right
    send({ lease: { token: lease.token, fence: String(lease.fence), believedMs: lease.validUntil - performance.now() } })
    await new Promise<void>((resolve) => process.once('message', () => resolve()))
    await lock.release(lease)()
  }
  await connected.right.close()
  process.disconnect()
}

void run()
