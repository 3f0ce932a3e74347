import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cli, eventually } from './redisCli.js'
import { RedisServer, startRedis } from './redisServer.js'

/** A local Sentinel deployment: one primary, one replica, three sentinels. */
export interface RedisSentinelDeployment {
  /** The name the sentinels monitor the primary by. */
  readonly name: string
  /** The two data nodes (which one is the primary changes with failovers). */
  readonly servers: ReadonlyArray<RedisServer>
  readonly sentinels: ReadonlyArray<RedisServer>
  /** The sentinels' addresses: what a client is given. */
  readonly sentinelNodes: ReadonlyArray<{ readonly host: '127.0.0.1'; readonly port: number }>
  /** The data node the sentinels name as primary now. */
  readonly primary: () => Promise<RedisServer>
  /** The other data node. */
  readonly replica: () => Promise<RedisServer>
  /**
   * Waits until every sentinel names the same running primary, which has an
   * online replica, and every sentinel knows the other two and the replica.
   */
  readonly healthy: (timeoutMs?: number) => Promise<void>
  readonly stop: () => Promise<void>
}

const NAME = 'leaselock'

/**
 * Starts a primary, a replica (`--replicaof`) and three sentinels (`redis-server
 * <conf> --sentinel`, quorum 2, `down-after-milliseconds 1000`) on free
 * loopback ports; resolves once they are healthy. The processes do not keep
 * the test process alive and are killed when it exits.
 */
export const startSentinel = async (): Promise<RedisSentinelDeployment> => {
  const root = mkdtempSync(join(tmpdir(), 'leaselock-sentinel-'))
  process.once('exit', () => rmSync(root, { recursive: true, force: true, maxRetries: 3 }))
  const dataArgs = (i: number): ReadonlyArray<string> => {
    const dir = join(root, `data-${i}`)
    mkdirSync(dir)
    return ['--repl-diskless-sync-delay', '0', '--dir', dir]
  }
  const first = await startRedis({ background: true, args: dataArgs(0) })
  const second = await startRedis({ background: true, args: [...dataArgs(1), '--replicaof', '127.0.0.1', String(first.port)] })
  const servers = [first, second]
  const sentinels = await Promise.all(
    [0, 1, 2].map((i) => {
      const configFile = join(root, `sentinel-${i}.conf`)
      writeFileSync(
        configFile,
        [
          `sentinel monitor ${NAME} 127.0.0.1 ${first.port} 2`,
          `sentinel down-after-milliseconds ${NAME} 1000`,
          `sentinel failover-timeout ${NAME} 5000`,
          `sentinel parallel-syncs ${NAME} 1`,
          ''
        ].join('\n')
      )
      return startRedis({ background: true, configFile, args: ['--sentinel', '--dir', root] })
    })
  )
  const byPort = (port: number): RedisServer => {
    const server = servers.find((s) => s.port === port)
    if (server === undefined) throw new Error(`no data node on port ${port}`)
    return server
  }
  const primaryPort = async (sentinel: RedisServer): Promise<number> =>
    Number(((await cli(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string])[1])
  const primary = async (): Promise<RedisServer> => byPort(await primaryPort(sentinels[0]!))

  /** A `SENTINEL MASTER` reply (a flat list of fields and values) as a map. */
  const masterState = async (sentinel: RedisServer): Promise<ReadonlyMap<string, string>> => {
    const flat = (await cli(sentinel.port, 'SENTINEL', 'MASTER', NAME)) as ReadonlyArray<string>
    return new Map(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, String(flat[i + 1])] as const] : [])))
  }

  const healthy = async (timeoutMs = 20_000): Promise<void> => {
    await eventually(
      'a healthy sentinel deployment',
      async () => {
        const ports = await Promise.all(sentinels.map(primaryPort))
        if (new Set(ports).size !== 1) return false
        const replication = String(await cli(ports[0]!, 'INFO', 'replication'))
        if (!replication.includes('role:master') || !/slave0:.*state=online/.test(replication)) return false
        for (const sentinel of sentinels) {
          const state = await masterState(sentinel)
          if (state.get('flags') !== 'master' || state.get('num-other-sentinels') !== '2' || state.get('num-slaves') !== '1') return false
        }
        return (await cli(sentinels[0]!.port, 'SENTINEL', 'CKQUORUM', NAME)) !== null
      },
      timeoutMs,
      200
    )
  }
  await healthy()

  return {
    name: NAME,
    servers,
    sentinels,
    sentinelNodes: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    primary,
    replica: async () => {
      const p = await primary()
      return servers.find((s) => s !== p)!
    },
    healthy,
    stop: async () => {
      await Promise.all([...sentinels, ...servers].map((s) => s.stop()))
      rmSync(root, { recursive: true, force: true, maxRetries: 3 })
    }
  }
}
