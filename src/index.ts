/**
 * leaselock: distributed leases over Redis, Memcached or memory.
 *
 * @since 0.1.0
 */
export * from './Claims.js'
export * from './Clock.js'
export * from './Driver.js'
export * from './Environment.js'
export * from './Handovers.js'
export * from './KeepAlive.js'
export * from './Lease.js'
export * from './Lock.js'
export * from './LockError.js'
export * from './QueuedWait.js'
export * from './RetryPolicy.js'
export * from './Store.js'
export * from './Tries.js'
export * from './validate.js'
export * from './config/ConfigParams.js'
export * from './config/settings.js'
export * from './config/options.js'
export * from './config/references.js'
export * from './config/showValue.js'
export * from './compat/Context.js'
export * from './compat/deadline.js'
export * from './compat/LockComponent.js'
