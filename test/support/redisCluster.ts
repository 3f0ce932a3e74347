import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './freePort.js'
import { cli, cliRaw, eventually } from './redisCli.js'
import { RedisServer, startRedis } from './redisServer.js'

/** One node of a local Redis Cluster. */
export interface ClusterNode extends RedisServer {
  /** The cluster bus port (`cluster-port`). */
  readonly busPort: number
}

/** A local Redis Cluster: 3 masters with one replica each, on free loopback ports. */
export interface RedisClusterDeployment {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Every node's address: what a client is given to discover the cluster. */
  readonly rootNodes: ReadonlyArray<{ readonly host: '127.0.0.1'; readonly port: number }>
  /** The node that serves `slot` as master now, as a live node sees it. */
  readonly masterOfSlot: (slot: number) => Promise<ClusterNode>
  /** The master's replica (the node that replicates from it). */
  readonly replicaOf: (master: ClusterNode) => Promise<ClusterNode>
  /** The slot of a key, as the cluster computes it (`CLUSTER KEYSLOT`). */
  readonly slotOf: (key: string) => Promise<number>
  /**
   * Waits until every node runs, agrees on the configuration, serves all
   * slots (`cluster_state:ok`) with 3 masters that each have an online replica.
   */
  readonly healthy: (timeoutMs?: number) => Promise<void>
  /** Stops every node (they are killed at process exit anyway) and removes their folders. */
  readonly stop: () => Promise<void>
}

const NODE_TIMEOUT_MS = 1000

type ShardsReply = ReadonlyArray<ReadonlyArray<unknown>>

/** `CLUSTER SLOTS` as [from, to, master port]. */
const slotRanges = async (port: number): Promise<ReadonlyArray<readonly [number, number, number]>> => {
  const reply = (await cli(port, 'CLUSTER', 'SLOTS')) as ShardsReply
  return reply.map((range) => {
    const [from, to, master] = range as [number, number, [string, number]]
    return [from, to, Number(master[1])] as const
  })
}

/**
 * Starts 6 `redis-server --cluster-enabled yes --cluster-node-timeout 1000`
 * processes on free loopback ports (each with its own bus port and folder) and
 * joins them with `redis-cli --cluster create … --cluster-replicas 1
 * --cluster-yes`; resolves once the cluster is healthy. The processes do not
 * keep the test process alive and are killed when it exits.
 */
export const startCluster = async (): Promise<RedisClusterDeployment> => {
  const root = mkdtempSync(join(tmpdir(), 'leaselock-cluster-'))
  process.once('exit', () => rmSync(root, { recursive: true, force: true, maxRetries: 3 }))
  const nodes = await Promise.all(
    Array.from({ length: 6 }, async (_, i): Promise<ClusterNode> => {
      const dir = join(root, `node-${i}`)
      mkdirSync(dir)
      const busPort = await freePort()
      const server = await startRedis({
        background: true,
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
          '--cluster-port', String(busPort),
          '--cluster-allow-replica-migration', 'no',
          '--repl-diskless-sync-delay', '0',
          '--dir', dir
        ]
      })
      return { ...server, busPort }
    })
  )
  const live = async (): Promise<ClusterNode> => {
    for (const node of nodes) {
      try {
        await cli(node.port, 'PING')
        return node
      } catch {
        // try the next one
      }
    }
    throw new Error('no cluster node answers')
  }
  const byPort = (port: number): ClusterNode => {
    const node = nodes.find((n) => n.port === port)
    if (node === undefined) throw new Error(`no node on port ${port}`)
    return node
  }

  const healthy = async (timeoutMs = 20_000): Promise<void> => {
    await eventually(
      'a healthy cluster',
      async () => {
        for (const node of nodes) {
          const state = String(await cli(node.port, 'CLUSTER', 'INFO'))
          if (!state.includes('cluster_state:ok') || !state.includes('cluster_known_nodes:6') || !state.includes('cluster_slots_ok:16384')) return false
        }
        const ranges = await slotRanges(nodes[0]!.port)
        const masters = new Set(ranges.map((r) => r[2]))
        // (CLUSTER SLOTS lists a replica only once it reported a replication offset: up to 10 s after a sync.)
        if (masters.size !== 3) return false
        for (const port of masters) {
          const replication = String(await cli(port, 'INFO', 'replication'))
          if (!/slave0:.*state=online/.test(replication)) return false
        }
        return true
      },
      timeoutMs,
      200
    )
  }

  await cliRaw(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'])
  await healthy()

  return {
    nodes,
    rootNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    masterOfSlot: async (slot) => {
      const ranges = await slotRanges((await live()).port)
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      if (range === undefined) throw new Error(`no master serves slot ${slot}`)
      return byPort(range[2])
    },
    replicaOf: async (master) => {
      const replication = String(await cli(master.port, 'INFO', 'replication'))
      const port = /slave0:ip=[^,]+,port=(\d+)/.exec(replication)?.[1]
      if (port === undefined) throw new Error(`the master on ${master.port} has no replica`)
      return byPort(Number(port))
    },
    slotOf: async (key) => Number(await cli((await live()).port, 'CLUSTER', 'KEYSLOT', key)),
    healthy,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()))
      rmSync(root, { recursive: true, force: true, maxRetries: 3 })
    }
  }
}
