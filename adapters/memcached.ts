/**
 * `leaselock/memcached`: leases over memcached's binary protocol. The protocol
 * (`memcachedStore`, its request builders, response decoders, key and expiry
 * rules) works over any {@link MemcachedDriver}; `memjsDriver` and
 * `connectMemcached` supply one from memjs.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectMemcached, memcachedStore } from 'leaselock/memcached'
 *
 * const connected = await connectMemcached({ servers: [{ host: 'localhost', port: 11211 }] })()
 * if (connected._tag === 'Right') {
 *   const lock = makeLock(memcachedStore(connected.right.driver))
 *   await lock.withLock('reports:daily', 30_000, { timeoutMs: 5_000 }, (lease) => async () => ({ _tag: 'Right', right: lease.fence }))()
 *   await connected.right.close()
 * }
 *
 * @since 0.1.0
 */
export * from '../src/memcached/expiry.js'
export * from '../src/memcached/keys.js'
export * from '../src/memcached/memcachedStore.js'
export * from '../src/memcached/protocol.js'
export * from './memjs.js'
