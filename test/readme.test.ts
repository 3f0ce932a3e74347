import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { deploymentEnv, sharedCluster, sharedSentinel } from './support/deployments.js'
import { Checked, Ran, check, readmeExamples, runAll } from './support/examples.js'
import { startMemcached } from './support/memcachedServer.js'
import { startRedis } from './support/redisServer.js'

// Every ```ts block of the README, type-checked against the built package (strict) and run
// as written; the examples that need servers read where they are from REDIS_PORT, MEMCACHED_PORT,
// REDIS_QUORUM_PORTS (three independent servers), and (the test run's shared deployments)
// REDIS_CLUSTER_NODES, REDIS_SENTINELS and REDIS_SENTINEL_NAME: see deploymentEnv.
const examples = readmeExamples()
const S = suite('README examples: type-checked and run')
let checked: Checked
let ran: ReadonlyMap<string, Ran> = new Map()
let servers: Array<{ stop: () => Promise<void> }> = []

S.before(async () => {
  const [redis, memcached, ...quorum] = await Promise.all([startRedis(), startMemcached(), startRedis(), startRedis(), startRedis()])
  servers = [redis, memcached, ...quorum]
  checked = await check('readme', examples)
  const clean = examples.filter((e) => !checked.errors.has(e.id)).map((e) => e.id)
  const env = {
    REDIS_PORT: String(redis.port),
    MEMCACHED_PORT: String(memcached.port),
    REDIS_QUORUM_PORTS: quorum.map((s) => s.port).join(','),
    ...deploymentEnv(await sharedCluster(), await sharedSentinel())
  }
  ran = await runAll(checked, clean, env, 30_000)
})
S.after(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

S('the README has runnable TypeScript examples', () => {
  assert.ok(examples.length >= 5)
})

for (const e of examples) {
  S(`README example at line ${e.where.split(':')[1]} type-checks and runs as written`, () => {
    const errors = checked.errors.get(e.id)
    assert.ok(errors === undefined, `type errors in the README example at ${e.where}:\n${errors?.join('\n')}`)
    const outcome = ran.get(e.id)
    assert.ok(outcome?.ok === true, `the README example at ${e.where} failed: ${outcome?.error ?? 'it did not run'}`)
  })
}

S.run()
