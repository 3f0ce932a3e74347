import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// Imports the package by its own name, so this runs through the `exports` map against the build
// (a variable specifier: the build's type declarations do not exist before the build).
const load = (specifier: string): Promise<any> => import(specifier)
test('the main entry exposes the core API', async () => {
  const api = await load('leaselock')
  for (const name of ['makeLock', 'keepAlive', 'LeaseLostError', 'LockException', 'code', 'realClock', 'VirtualClock', 'ManualClock', 'constantDelay', 'exponentialBackoff', 'fullJitter', 'limitRetries', 'capDelay', 'RetryPolicyMonoid', 'driverError', 'validateKey']) {
    assert.ok(name in api, `leaselock exports ${name}`)
  }
})

test('the memory entry works end to end under plain node', async () => {
  const { makeLock } = await load('leaselock')
  const { memoryStore } = await load('leaselock/memory')
  const lock = makeLock(memoryStore())
  const r = await lock.withLock('exports', 1_000, { timeoutMs: 0 }, (lease: { fence: bigint }) => async () => ({ _tag: 'Right' as const, right: lease.fence }))()
  assert.equal(r, { _tag: 'Right', right: 1n })
  const { driverError } = await load('leaselock')
  assert.equal(driverError('x', true), { _tag: 'DriverError', cause: 'x', indeterminate: true })
})

test('the redis and memcached entries load under plain node and expose their classes and builders', async () => {
  const redis = await load('leaselock/redis')
  for (const name of ['RedisLock', 'RedisLockComponent', 'redisStore', 'connectRedis', 'nodeRedisDriver', 'nodeRedisSubscriber', 'connectRedisCluster', 'connectRedisSentinel', 'keySlot', 'slotChannel']) {
    assert.ok(name in redis, `leaselock/redis exports ${name}`)
  }
  const memcached = await load('leaselock/memcached')
  for (const name of ['MemcachedLock', 'MemcachedLockComponent', 'memcachedStore', 'connectMemcached', 'memjsDriver']) {
    assert.ok(name in memcached, `leaselock/memcached exports ${name}`)
  }
  const ioredis = await load('leaselock/ioredis')
  for (const name of ['ioredisDriver', 'IoredisTimeoutError', 'IoredisNotReadyError', 'IoredisConnectionLostError']) {
    assert.ok(name in ioredis, `leaselock/ioredis exports ${name}`)
  }
  const { ConfigParams } = await load('leaselock')
  assert.equal(ConfigParams.fromTuples('connection.host', 'localhost'), { 'connection.host': 'localhost' })
})

test('the package bin is the built leaselock command', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('leaselock/package.json')), 'utf8')) as { bin: Record<string, string> }
  assert.equal(pkg.bin, { leaselock: './dist/cli/main.js' })
})

test.run()
