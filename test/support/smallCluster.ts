import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisServer, startRedis } from './redisServer.js'
import { sleep } from './expect.js'

/** A Redis Cluster of three masters without replicas on 127.0.0.1, each owning a third of the slots. */
export interface SmallCluster {
  readonly nodes: ReadonlyArray<{ readonly host: '127.0.0.1'; readonly port: number }>
  readonly stop: () => Promise<void>
}

const SLOTS = 16_384

/**
 * Starts three `redis-server --cluster-enabled yes` processes, gives each a
 * third of the slots (`CLUSTER ADDSLOTSRANGE`), joins them (`CLUSTER MEET`)
 * and resolves once every node reports `cluster_state:ok` (within 10 s).
 */
export const startSmallCluster = async (): Promise<SmallCluster> => {
  const dir = mkdtempSync(join(tmpdir(), 'leaselock-cluster-'))
  const servers: RedisServer[] = []
  const admins: Redis[] = []
  const stop = async (): Promise<void> => {
    for (const admin of admins.splice(0)) admin.disconnect()
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--cluster-node-timeout', '1000'] })
      )
    }
    for (const server of servers) {
      const admin = new Redis({ host: server.host, port: server.port, lazyConnect: true })
      admin.on('error', () => undefined)
      await admin.connect()
      admins.push(admin)
    }
    await Promise.all(
      admins.map((admin, i) => admin.call('CLUSTER', ['ADDSLOTSRANGE', String(Math.floor((i * SLOTS) / 3)), String(Math.floor(((i + 1) * SLOTS) / 3) - 1)]))
    )
    for (const server of servers.slice(1)) await admins[0]!.call('CLUSTER', ['MEET', server.host, String(server.port)])
    const deadline = performance.now() + 10_000
    for (;;) {
      const states = await Promise.all(admins.map((admin) => admin.call('CLUSTER', ['INFO'])))
      if (states.every((info) => String(info).includes('cluster_state:ok'))) break
      if (performance.now() > deadline) throw new Error(`the cluster did not form: ${states.map(String).join(' | ')}`)
      await sleep(50)
    }
    for (const admin of admins.splice(0)) admin.disconnect()
    return { nodes: servers.map((s) => ({ host: s.host, port: s.port })), stop }
  } catch (e) {
    await stop()
    throw e
  }
}
