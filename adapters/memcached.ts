/**
 * `leaselock/memcached`: leases over memcached's binary protocol. The protocol
 * (`memcachedStore`, its request builders, response decoders, key and expiry
 * rules) works over any {@link MemcachedDriver}; `memjsDriver` and
 * `connectMemcached` supply one from memjs, and `MemcachedLock` is the
 * Pip.Services-style component over them.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectMemcached, memcachedStore } from 'leaselock/memcached'
 *
 * const connected = await connectMemcached({ servers: [{ host: 'localhost', port: Number(process.env.MEMCACHED_PORT ?? 11211) }] })()
 * assert.ok(connected._tag === 'Right')
 * const lock = makeLock(memcachedStore(connected.right.driver))
 * const fence = await lock.withLock('reports:daily', 30_000, { timeoutMs: 5_000 }, (lease) => async () => ({ _tag: 'Right', right: lease.fence }))()
 * assert.strictEqual(fence._tag, 'Right')
 * await connected.right.close()
 *
 * @since 0.1.0
 */
import type { Environment } from '../src/Environment.js'
import { MemcachedLockComponent } from '../src/memcached/MemcachedLock.js'
import { connectMemcached } from './memjs.js'

export * from '../src/memcached/expiry.js'
export * from '../src/memcached/keys.js'
export * from '../src/memcached/MemcachedConnection.js'
export * from '../src/memcached/MemcachedLock.js'
export * from '../src/memcached/memcachedStore.js'
export * from '../src/memcached/memcachedPermitStore.js'
export * from '../src/memcached/protocol.js'
export * from './memjs.js'

/**
 * A distributed lock in memcached with the Pip.Services component API, over
 * memjs (see {@link MemcachedLockComponent} for the configuration keys and
 * options, and `LockComponent` for the behaviour of each method).
 *
 * @example
 * import { ConfigParams } from 'leaselock'
 * import { MemcachedLock } from 'leaselock/memcached'
 *
 * const lock = new MemcachedLock()
 * lock.configure(ConfigParams.fromTuples(
 *   'connection.host', 'localhost',
 *   'connection.port', Number(process.env.MEMCACHED_PORT ?? 11211)
 * ))
 * await lock.open('123')
 * await lock.acquireLock('123', 'key1', 3000, 1000)
 * try {
 *   // Processing...
 * } finally {
 *   await lock.releaseLock('123', 'key1')
 * }
 * await lock.close('123')
 *
 * @since 0.1.0
 */
export class MemcachedLock extends MemcachedLockComponent {
  constructor(env?: Environment) {
    super(connectMemcached, env)
  }
}
