import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Checked, Ran, check, readmeExamples, runAll } from './support/examples.js'
import { startMemcached } from './support/memcachedServer.js'
import { startRedis } from './support/redisServer.js'

// Every ```ts block of the README, type-checked against the built package (strict) and run
// as written; the examples that need servers read their ports from REDIS_PORT, MEMCACHED_PORT and
// REDIS_QUORUM_PORTS (three independent servers).
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
  const env = { REDIS_PORT: String(redis.port), MEMCACHED_PORT: String(memcached.port), REDIS_QUORUM_PORTS: quorum.map((s) => s.port).join(',') }
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
