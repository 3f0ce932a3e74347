/**
 * Opens the store a command line names: `connectRedis` (node-redis, with
 * wake-on-release) or `connectMemcached` (memjs), each within its connect
 * deadline (retrying until then).
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { connectMemcached, memcachedStore } from '../adapters/memcached.js'
import { connectRedis, connectRedisCluster, redisStore } from '../adapters/redis.js'
import type { LockError } from '../src/LockError.js'
import type { Store } from '../src/Store.js'
import type { Backend } from './args.js'

/**
 * A store and the way to let its connection go.
 *
 * @example
 * import { OpenStore } from './backend.js'
 * const done = (s: OpenStore) => s.close()
 *
 * @since 0.3.0
 */
export interface OpenStore {
  readonly store: Store
  readonly close: () => Promise<void>
}

/**
 * Connects to the backend: `ConnectFailed` when the server cannot be reached
 * within `connectTimeoutMs`, `ConfigError` for a URL the client refuses.
 *
 * @example
 * import { openStore } from './backend.js'
 * const opened = await openStore({ _tag: 'Redis', url: 'redis://127.0.0.1:6379' }, 2_000)
 * if (opened._tag === 'Right') await opened.right.close()
 *
 * @since 0.3.0
 */
export const openStore = async (backend: Backend, connectTimeoutMs: number): Promise<E.Either<LockError, OpenStore>> => {
  if (backend._tag === 'RedisCluster') {
    const nodes = backend.urls.map((u) => new URL(u))
    const first = nodes[0]!
    const connected = await connectRedisCluster({
      rootNodes: nodes.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
      ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
      ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
      connectTimeoutMs
    })()
    return E.isLeft(connected) ? connected : E.right({ store: redisStore(connected.right.driver), close: connected.right.close })
  }
  if (backend._tag === 'Redis') {
    const connected = await connectRedis({ uri: backend.url, connectTimeoutMs })()
    return E.isLeft(connected) ? connected : E.right({ store: redisStore(connected.right.driver), close: connected.right.close })
  }
  const connected = await connectMemcached({ servers: backend.servers, connectTimeoutMs })()
  return E.isLeft(connected) ? connected : E.right({ store: memcachedStore(connected.right.driver), close: connected.right.close })
}
