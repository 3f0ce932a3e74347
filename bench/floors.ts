/**
 * The floors: each raw client doing exactly the round trips a safe lock needs,
 * with a fresh 128-bit token per acquisition and nothing else. No library can
 * beat its own client's floor; the ratio to it is the library's overhead.
 *
 * @since 0.1.0
 */
import { createClient } from 'redis'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import { randomToken } from '../src/Environment.js'
import { Locker, compareAndDelete, mustRelease } from './locker.js'

/**
 * node-redis: `SET key token NX PX ttl`, then `EVALSHA` compare-and-delete,
 * both through `sendCommand` (the client's cheapest path).
 *
 * @example
 * import { rawNodeRedis } from './floors.js'
 * const locker = await rawNodeRedis('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const rawNodeRedis = async (url: string): Promise<Locker> => {
  const client = createClient({ url, socket: { connectTimeout: 5000, reconnectStrategy: false } })
  client.on('error', () => undefined)
  await client.connect()
  const sha = String(await client.sendCommand<string>(['SCRIPT', 'LOAD', compareAndDelete]))
  return {
    acquire: async (key, ttlMs) => {
      const token = randomToken()
      const reply = await client.sendCommand<string | null>(['SET', key, token, 'NX', 'PX', String(ttlMs)])
      if (reply !== 'OK') return undefined
      return async () => mustRelease('node-redis', key, (await client.sendCommand<number>(['EVALSHA', sha, '1', key, token])) === 1)
    },
    close: () => client.close()
  }
}

/**
 * ioredis, the client both peers run on: the same `SET NX PX` and `EVALSHA`.
 *
 * @example
 * import { rawIoredis } from './floors.js'
 * const locker = await rawIoredis('redis://127.0.0.1:6379')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const rawIoredis = async (url: string): Promise<Locker> => {
  const client = await connectIoredis(url)
  const sha = String(await client.script('LOAD', compareAndDelete))
  return {
    acquire: async (key, ttlMs) => {
      const token = randomToken()
      if ((await client.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined
      return async () => mustRelease('ioredis', key, (await client.evalsha(sha, 1, key, token)) === 1)
    },
    close: () => quitIoredis(client)
  }
}

/**
 * An ioredis client that is connected (or failed) before it is used.
 *
 * @example
 * import { connectIoredis, quitIoredis } from './floors.js'
 * await quitIoredis(await connectIoredis('redis://127.0.0.1:6379'))
 *
 * @since 0.1.0
 */
export const connectIoredis = async (url: string): Promise<Redis> => {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 5000 })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

/**
 * Quits politely, or drops the connection if the server does not answer in time.
 *
 * @example
 * import { connectIoredis, quitIoredis } from './floors.js'
 * await quitIoredis(await connectIoredis('redis://127.0.0.1:6379'))
 *
 * @since 0.1.0
 */
export const quitIoredis = async (client: Redis): Promise<void> => {
  const timer = setTimeout(() => client.disconnect(), 2000)
  await client.quit().catch(() => client.disconnect())
  clearTimeout(timer)
}

const OP_ADD = 0x02
const OP_DELETE = 0x04
const STATUS_OK = 0

/** One raw binary-protocol request through memjs, answered by the response header status and CAS. */
const perform = (
  client: memjs.Client,
  opcode: number,
  key: string,
  extras: Buffer,
  value: string,
  cas?: Buffer
): Promise<{ status: number; cas: Buffer }> =>
  new Promise((resolve, reject) => {
    client.incrSeq()
    const seq = client.seq
    const request = memjs.Utils.makeRequestBuffer(opcode, key, extras, value, seq)
    if (cas !== undefined) cas.copy(request, 16)
    client.perform(
      key,
      request,
      seq,
      (err: Error | null, response?: memjs.Response) =>
        err !== null || response === undefined
          ? reject(err ?? new Error('memjs: no response'))
          : resolve({ status: response.header.status, cas: response.header.cas }),
      1
    )
  })

/**
 * memjs: binary `ADD` (flags 0, TTL in whole seconds rounded up) answered with
 * the item's CAS, then `DELETE` carrying that CAS (a compare-and-delete), both
 * through `perform` / `makeRequestBuffer`, one attempt each.
 *
 * @example
 * import { rawMemjs } from './floors.js'
 * const locker = await rawMemjs('127.0.0.1:11211')
 * await locker.close()
 *
 * @since 0.1.0
 */
export const rawMemjs = async (servers: string): Promise<Locker> => {
  const client = memjs.Client.create(servers, { retries: 1, timeout: 2, conntimeout: 5, keepAlive: true })
  return {
    acquire: async (key, ttlMs) => {
      const extras = Buffer.alloc(8)
      extras.writeUInt32BE(Math.max(1, Math.ceil(ttlMs / 1000)), 4)
      const added = await perform(client, OP_ADD, key, extras, randomToken())
      if (added.status !== STATUS_OK) return undefined
      return async () =>
        mustRelease('memjs', key, (await perform(client, OP_DELETE, key, Buffer.alloc(0), '', added.cas)).status === STATUS_OK)
    },
    close: async () => client.close()
  }
}
