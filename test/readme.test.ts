import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sharedCluster, sharedSentinel } from './support/deployments.js'
import { startMemcached } from './support/memcachedServer.js'
import { startRedis } from './support/redisServer.js'

/** The project folder: the nearest folder above this file with a package.json (from dist/test or from test). */
const findRoot = (dir: string): string => (existsSync(join(dir, 'package.json')) ? dir : findRoot(dirname(dir)))
const root = findRoot(dirname(fileURLToPath(import.meta.url)))
const run = promisify(execFile)

/** Every ```ts block of the README, with the line it starts on. */
const examples = (): Array<{ line: number; code: string }> => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n')
  const blocks: Array<{ line: number; code: string }> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue
    const start = i + 1
    const body: string[] = []
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!)
    blocks.push({ line: start, code: body.join('\n') })
  }
  return blocks
}

/**
 * The examples that need servers read where they are from REDIS_PORT,
 * MEMCACHED_PORT, REDIS_QUORUM_PORTS (three independent servers),
 * REDIS_CLUSTER_NODES (`host:port,…`), REDIS_SENTINELS (`host:port,…`) and
 * REDIS_SENTINEL_NAME; the cluster and the sentinels are the test run's
 * shared deployments.
 */
const readmeEnv: Record<string, string> = {}
let servers: Array<{ stop: () => Promise<void> }> = []

const workDir = join(root, '.tmp', 'readme')

test.before(async () => {
  mkdirSync(workDir, { recursive: true })
  const [redis, memcached, cluster, sentinel] = await Promise.all([startRedis(), startMemcached(), sharedCluster(), sharedSentinel()])
  const quorum = await Promise.all([startRedis(), startRedis(), startRedis()])
  servers = [redis, memcached, ...quorum]
  readmeEnv.REDIS_PORT = String(redis.port)
  readmeEnv.MEMCACHED_PORT = String(memcached.port)
  readmeEnv.REDIS_QUORUM_PORTS = quorum.map((s) => s.port).join(',')
  readmeEnv.REDIS_CLUSTER_NODES = cluster.rootNodes.map((n) => `${n.host}:${n.port}`).join(',')
  readmeEnv.REDIS_SENTINELS = sentinel.sentinelNodes.map((n) => `${n.host}:${n.port}`).join(',')
  readmeEnv.REDIS_SENTINEL_NAME = sentinel.name
})
test.after(async () => {
  rmSync(workDir, { recursive: true, force: true })
  await Promise.all(servers.map((s) => s.stop()))
})

test('the README has runnable TypeScript examples', () => {
  assert.ok(examples().length >= 5)
})

for (const { line, code } of examples()) {
  test(`README example at line ${line} runs as written`, async () => {
    const file = join(workDir, `example-${line}.ts`)
    writeFileSync(file, code)
    try {
      await run(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 30_000, env: { ...process.env, ...readmeEnv } })
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string }
      assert.unreachable(`example at README line ${line} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`)
    }
  })
}

test.run()
