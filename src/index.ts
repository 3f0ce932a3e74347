/**
 * leaselock: distributed leases over Redis, Memcached or memory.
 *
 * @since 0.1.0
 */
export * from './Clock.js'
export * from './Driver.js'
export * from './Environment.js'
export * from './KeepAlive.js'
export * from './Lease.js'
export * from './Lock.js'
export * from './LockError.js'
export * from './RetryPolicy.js'
export * from './Store.js'
export * from './validate.js'
