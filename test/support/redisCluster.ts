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
  /** The masters now, as a live node sees them. */
  readonly masters: () => Promise<ReadonlyArray<ClusterNode>>
  /** The node that serves `slot` as master now, as a live node sees it. */
  readonly masterOfSlot: (slot: number) => Promise<ClusterNode>
  /** The master's replica (the node that replicates from it). */
  readonly replicaOf: (master: ClusterNode) => Promise<ClusterNode>
  /** The slot of a key, as the cluster computes it (`CLUSTER KEYSLOT`). */
  readonly slotOf: (key: string) => Promise<number>
  /**
   * Starts moving `slot` from its master to the master `to`, the way `redis-cli
   * --cluster reshard` does: `CLUSTER SETSLOT … IMPORTING` on the target and
   * `MIGRATING` on the source. Until `finish()` (which `MIGRATE`s every key of
   * the slot, in batches, then sets the slot's owner on every master), clients
   * meet `ASK` and `TRYAGAIN` for it.
   */
  readonly beginMigration: (slot: number, to: ClusterNode) => Promise<{ readonly from: ClusterNode; readonly finish: () => Promise<void> }>
  /** Counts of error replies a node sent since it started, by code (`INFO errorstats`: `TRYAGAIN`, `ASK`, …). */
  readonly errorCounts: (node: ClusterNode) => Promise<ReadonlyMap<string, number>>

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
    let why = ''
    const unhealthy = (reason: string): false => {
      why = reason
      return false
    }
    await eventually(
      'a healthy cluster',
      async () => {
        for (const node of nodes) {
          const state = String(await cli(node.port, 'CLUSTER', 'INFO'))
          if (!state.includes('cluster_state:ok') || !state.includes('cluster_known_nodes:6') || !state.includes('cluster_slots_ok:16384'))
            return unhealthy(`node ${node.port}: ${state.replace(/\s+/g, ' ').slice(0, 200)}`)
        }
        const ranges = await slotRanges(nodes[0]!.port)
        const masters = new Set(ranges.map((r) => r[2]))
        // (CLUSTER SLOTS lists a replica only once it reported a replication offset: up to 10 s after a sync.)
        if (masters.size !== 3) return unhealthy(`masters ${[...masters].join(', ')}`)
        for (const port of masters) {
          const replication = String(await cli(port, 'INFO', 'replication'))
          if (!/slave0:.*state=online/.test(replication)) return unhealthy(`master ${port}: ${replication.replace(/\s+/g, ' ')}`)
        }
        return true
      },
      timeoutMs,
      200
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; last seen: ${why}`)
    })
  }

  await cliRaw(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'])
  await healthy()

  return {
    nodes,
    rootNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    masters: async () => [...new Set((await slotRanges((await live()).port)).map((r) => byPort(r[2])))],
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
    beginMigration: async (slot, to) => {
      const ranges = await slotRanges(to.port)
      const from = byPort(ranges.find(([a, b]) => slot >= a && slot <= b)![2])
      const id = async (node: ClusterNode): Promise<string> => String(await cli(node.port, 'CLUSTER', 'MYID'))
      const [fromId, toId] = await Promise.all([id(from), id(to)])
      await cli(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId)
      await cli(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId)
      const finish = async (): Promise<void> => {
        for (;;) {
          const keys = (await cli(from.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as ReadonlyArray<string>
          if (keys.length === 0) break
          await cli(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys)
        }
        const others = [...new Set(ranges.map((r) => byPort(r[2])))].filter((m) => m !== to && m !== from)
        for (const node of [to, from, ...others]) await cli(node.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId)
      }
      return { from, finish }
    },
    errorCounts: async (node) => {
      const text = String(await cli(node.port, 'INFO', 'errorstats'))
      return new Map([...text.matchAll(/errorstat_([A-Z]+):count=(\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const))
    },
    healthy,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()))
      rmSync(root, { recursive: true, force: true, maxRetries: 3 })
    }
  }
}

/**
 * One cluster-enabled `redis-server` that serves every slot itself: a cluster
 * of one master, for tests that break the slot map on purpose (`CLUSTER
 * DELSLOTS`) without touching the shared cluster. Stop it when done.
 */
export const startSingleNodeCluster = async (): Promise<RedisServer> => {
  const dir = mkdtempSync(join(tmpdir(), 'leaselock-cluster-1-'))
  const server = await startRedis({
    args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(await freePort()), '--dir', dir]
  })
  await cli(server.port, 'CLUSTER', 'ADDSLOTSRANGE', '0', String(16_383))
  await eventually('a one-node cluster', async () => String(await cli(server.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), 5_000, 20)
  return {
    ...server,
    stop: async () => {
      await server.stop()
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    }
  }
}
