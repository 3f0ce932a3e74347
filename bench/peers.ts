/**
 * The peers, each on its own ioredis client and used the way its README shows:
 * node-redlock 5 (`redlock.acquire([key], ttl)` / `lock.release()`) and
 * redis-semaphore's `Mutex` (`new Mutex(client, key)`, `acquire()` /
 * `release()`). Their retry settings are the README's; only the TTL (and the
 * Mutex's acquire timeout) are set to the scenario's, as for every contestant.
 *
 * @since 0.1.0
 */
import Redlock, { ExecutionError, ResourceLockedError } from 'redlock'
import { Mutex, Semaphore, TimeoutError } from 'redis-semaphore'
import { Locker } from './locker.js'
import { connectIoredis, quitIoredis } from './floors.js'

/**
 * The settings object of redlock's README (retry 10 times, every 200 ms plus up
 * to 200 ms of jitter).
 *
 * @example
 * import { redlockReadmeSettings } from './peers.js'
 * assert.strictEqual(redlockReadmeSettings.retryCount, 10)
 *
 * @since 0.1.0
 */
export const redlockReadmeSettings = {
  driftFactor: 0.01,
  retryCount: 10,
  retryDelay: 200,
  retryJitter: 200,
  automaticExtensionThreshold: 500
} as const

/**
 * node-redlock on one ioredis client. Giving up after its retries is
 * `undefined`; any other failure rejects.
 *
 * @example
 * import { redlockPeer } from './peers.js'
 * const locker = await redlockPeer('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const redlockPeer = async (url: string): Promise<Locker> => redlockOver([url])

/**
 * node-redlock over independent Redis servers, one ioredis client each (its
 * Redlock use), with the README's settings.
 *
 * @example
 * import { redlockQuorumPeer } from './peers.js'
 * const locker = await redlockQuorumPeer(['redis://127.0.0.1:6379', 'redis://127.0.0.1:6380', 'redis://127.0.0.1:6381'])
 * await locker.close()
 *
 * @since 0.1.0
 */
export const redlockQuorumPeer = (urls: ReadonlyArray<string>): Promise<Locker> => redlockOver(urls)

const redlockOver = async (urls: ReadonlyArray<string>): Promise<Locker> => {
  const clients = await Promise.all(urls.map(connectIoredis))
  const redlock = new Redlock(clients, redlockReadmeSettings)
  const errors: unknown[] = []
  redlock.on('error', (error: unknown) => {
    if (!(error instanceof ResourceLockedError)) errors.push(error)
  })
  return {
    acquire: async (key, ttlMs) => {
      try {
        const lock = await redlock.acquire([key], ttlMs)
        return async () => {
          await lock.release()
        }
      } catch (e) {
        if (e instanceof ExecutionError && errors.length === 0) return undefined
        throw e
      }
    },
    close: async () => {
      await Promise.all(clients.map(quitIoredis))
    }
  }
}

/**
 * redis-semaphore's `Mutex` on one ioredis client, a new `Mutex` per critical
 * section as in its README. A timeout is `undefined`; a lost lock fails the
 * next release.
 *
 * @example
 * import { mutexPeer } from './peers.js'
 * const locker = await mutexPeer('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const mutexPeer = async (url: string): Promise<Locker> => {
  const client = await connectIoredis(url)
  return {
    acquire: async (key, ttlMs, timeoutMs) => {
      let lost: unknown
      const mutex = new Mutex(client, key, {
        lockTimeout: ttlMs,
        acquireTimeout: timeoutMs,
        onLockLost: (e) => {
          lost = e
        }
      })
      try {
        await mutex.acquire()
      } catch (e) {
        if (e instanceof TimeoutError) return undefined
        throw e
      }
      return async () => {
        await mutex.release()
        if (lost !== undefined) throw lost
      }
    },
    close: () => quitIoredis(client)
  }
}

/**
 * redis-semaphore's `Semaphore` as its README shows it (`new Semaphore(client,
 * key, limit)`, `acquire()` / `release()`, its default 10 ms retry interval),
 * on an ioredis client; the TTL and the acquire timeout are the scenario's.
 *
 * @example
 * import { semaphorePeer } from './peers.js'
 * const locker = await semaphorePeer('redis://127.0.0.1:6379', 3)
 * await locker.close()
 *
 * @since 0.4.0
 */
export const semaphorePeer = async (url: string, limit: number): Promise<Locker> => {
  const client = await connectIoredis(url)
  return {
    acquire: async (key, ttlMs, timeoutMs) => {
      const semaphore = new Semaphore(client, key, limit, { lockTimeout: ttlMs, acquireTimeout: timeoutMs, onLockLost: () => undefined })
      try {
        await semaphore.acquire()
      } catch (e) {
        if (e instanceof TimeoutError) return undefined
        throw e
      }
      return () => semaphore.release()
    },
    close: () => quitIoredis(client)
  }
}
