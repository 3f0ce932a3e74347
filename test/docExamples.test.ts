import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { deploymentEnv, sharedCluster, sharedSentinel } from './support/deployments.js'
import { Checked, Ran, check, runAll, sourceExamples } from './support/examples.js'
import { startMemcached } from './support/memcachedServer.js'
import { startRedis } from './support/redisServer.js'

// Every @example of src/ and adapters/, type-checked against the built package and run
// (those that need a server read REDIS_PORT and MEMCACHED_PORT, and the Redis Cluster and
// Sentinel ones REDIS_CLUSTER_NODES, REDIS_SENTINELS and REDIS_SENTINEL_NAME, as the README's do).
const examples = sourceExamples()
const S = suite('doc examples: type-checked and run')
let checked: Checked
let ran: ReadonlyMap<string, Ran> = new Map()
let servers: Array<{ stop: () => Promise<void> }> = []

S.before(async () => {
  const [redis, memcached] = await Promise.all([startRedis(), startMemcached()])
  servers = [redis, memcached]
  checked = await check('doc-examples', examples)
  const clean = examples.filter((e) => !checked.errors.has(e.id)).map((e) => e.id)
  const env = { REDIS_PORT: String(redis.port), MEMCACHED_PORT: String(memcached.port), ...deploymentEnv(await sharedCluster(), await sharedSentinel()) }
  ran = await runAll(checked, clean, env, 15_000)
})
S.after(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

S('the sources have examples to check', () => {
  assert.ok(examples.length >= 200, `${examples.length} examples`)
})

S('the checker catches a type error, a failed assertion, a stray rejection and an example that never ends', async () => {
  const bad = [
    { id: 'type-error', where: 'x:1', code: "import { makeLock } from 'leaselock'\nmakeLock(42)" },
    { id: 'assertion', where: 'x:2', code: 'assert.strictEqual(1 + 1, 3)' },
    { id: 'stray', where: 'x:3', code: "Promise.reject(new Error('stray'))" },
    { id: 'endless', where: 'x:4', code: 'await new Promise(() => undefined)' },
    { id: 'fine', where: 'x:5', code: "import { validateKey } from 'leaselock'\nassert.ok(validateKey('k')._tag === 'Right')" }
  ]
  const checkedBad = await check('doc-examples-self-test', bad)
  assert.equal([...checkedBad.errors.keys()], ['type-error'])
  const outcomes = await runAll(checkedBad, ['assertion', 'stray', 'endless', 'fine'], {}, 500)
  assert.equal(['assertion', 'stray', 'endless', 'fine'].map((id) => outcomes.get(id)?.ok), [false, false, false, true])
  assert.match(outcomes.get('endless')?.error ?? '', 'did not finish within 500 ms')
})

for (const e of examples) {
  S(`${e.where} type-checks and runs`, () => {
    const errors = checked.errors.get(e.id)
    assert.ok(errors === undefined, `type errors in the example at ${e.where}:\n${errors?.join('\n')}\n--- example ---\n${e.code}`)
    const outcome = ran.get(e.id)
    assert.ok(outcome?.ok === true, `the example at ${e.where} failed: ${outcome?.error ?? 'it did not run'}\n--- example ---\n${e.code}`)
  })
}

S.run()
