import { test } from 'uvu'
import * as assert from 'uvu/assert'

// Through the package's own name and `exports` map, against the build.
const load = (specifier: string): Promise<any> => import(specifier)

test('the quorum API is exported: quorumStore and its parts from leaselock, redisNode and redisFenceCounter from leaselock/redis', async () => {
  const core = await load('leaselock')
  for (const name of ['quorumStore', 'memoryFenceCounter', 'majority', 'noQuorum', 'decodeRevision', 'encodeRevision', 'gather', 'keyword']) {
    assert.ok(name in core, `leaselock exports ${name}`)
  }
  const redis = await load('leaselock/redis')
  for (const name of ['redisNode', 'redisFenceCounter', 'raiseFenceScript', 'MIN_REDLOCK_NODES']) {
    assert.ok(name in redis, `leaselock/redis exports ${name}`)
  }
  const { makeLock, quorumStore, memoryFenceCounter } = core
  const { memoryStore } = await load('leaselock/memory')
  const node = () => ({ ...memoryStore(), fenceCounter: memoryFenceCounter() })
  const lock = makeLock(quorumStore([node(), node(), node()]))
  const lease = await lock.acquire('exports', 1_000, 0)()
  assert.is(lease._tag, 'Right')
  assert.is(lease.right.fence, 1n)
})

test.run()
