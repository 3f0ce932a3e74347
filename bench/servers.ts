/**
 * The servers the benchmark talks to: its own `redis-server` and `memcached`
 * on free loopback ports when the binaries are on PATH (started with the test
 * suite's helpers), or the ones named by `REDIS_URL` / `MEMCACHED_SERVERS`.
 *
 * @since 0.1.0
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { startMemcached } from '../test/support/memcachedServer.js'
import { eventually, info } from '../test/support/redisCli.js'
import { startCluster } from '../test/support/redisCluster.js'
import { startRedis } from '../test/support/redisServer.js'

/**
 * Where each backend lives for this run; `undefined` = not available.
 *
 * @since 0.1.0
 */
export interface Endpoints {
  readonly redisUrl?: string
  readonly memcachedServers?: string
  /** Three independent Redis servers for the quorum contestants (ours and node-redlock share them). */
  readonly quorumUrls?: ReadonlyArray<string>
  /** A Redis primary with one replica (`--cluster` runs). */
  readonly redisPrimaryUrl?: string
  /** A Redis Cluster's nodes, `host:port,host:port…` (`--cluster` runs). */
  readonly redisClusterNodes?: string
}

/**
 * Running servers (or external ones) and how to stop what we started.
 *
 * @since 0.1.0
 */
export interface Servers extends Endpoints {
  /** One line per backend saying where it came from, or why it is missing. */
  readonly notes: ReadonlyArray<string>
  /** Server versions as reported at start (`redis-server --version`, `memcached -V`). */
  readonly versions: Readonly<Record<string, string>>
  readonly stop: () => Promise<void>
}

/**
 * The full path of `name` on PATH, or `undefined`.
 *
 * @example
 * import { onPath } from './servers.js'
 * onPath('redis-server')
 *
 * @since 0.1.0
 */
export const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find((file) => {
      try {
        accessSync(file, constants.X_OK)
        return true
      } catch {
        return false
      }
    })

const versionOf = (binary: string, flag: string): Promise<string> =>
  new Promise((resolve) => {
    const child = spawn(binary, [flag], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.once('error', () => resolve('unknown'))
    child.once('exit', () => resolve(out.trim().split('\n')[0] ?? 'unknown'))
  })

/** How many independent servers the quorum contestants run on. */
const QUORUM_NODES = 3

/**
 * Brings up the backends asked for. External servers (`REDIS_URL`,
 * `MEMCACHED_SERVERS`, `REDIS_QUORUM_URLS` with three comma-separated URLs)
 * win over starting our own; a backend with neither is left out and the note
 * says so. With Redis, three more servers are started for the quorum
 * contestants. `stop` stops only what was started here.
 *
 * @example
 * import { startServers } from './servers.js'
 * const servers = await startServers({ redis: true, memcached: false })
 * await servers.stop()
 *
 * @since 0.1.0
 */
export const startServers = async (want: { readonly redis: boolean; readonly memcached: boolean }): Promise<Servers> => {
  const stops: Array<() => Promise<void>> = []
  const notes: string[] = []
  const versions: Record<string, string> = {}
  let redisUrl: string | undefined
  let memcachedServers: string | undefined
  let quorumUrls: ReadonlyArray<string> | undefined
  const stop = async (): Promise<void> => {
    await Promise.all(stops.map((stopOne) => stopOne()))
  }
  const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))
  try {
    if (want.redis) {
      const binary = onPath('redis-server')
      if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') {
        redisUrl = process.env.REDIS_URL
        notes.push(`redis: external server from REDIS_URL`)
      } else if (binary !== undefined) {
        const server = await startRedis({ args: ['--loglevel', 'warning'] }).catch((e: unknown) => {
          notes.push(`redis: skipped (redis-server did not start: ${errorText(e)})`)
          return undefined
        })
        if (server !== undefined) {
          stops.push(server.stop)
          redisUrl = server.url
          versions.redis = await versionOf(binary, '--version')
          notes.push(`redis: own redis-server on 127.0.0.1:${server.port}`)
        }
      } else notes.push('redis: skipped (no redis-server on PATH and no REDIS_URL)')
      const external = (process.env.REDIS_QUORUM_URLS ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '')
      if (external.length === QUORUM_NODES) {
        quorumUrls = external
        notes.push('redis quorum: external servers from REDIS_QUORUM_URLS')
      } else if (binary !== undefined) {
        const nodes = await Promise.all(
          Array.from({ length: QUORUM_NODES }, () => startRedis({ args: ['--loglevel', 'warning'] }).catch(() => undefined))
        )
        for (const node of nodes) if (node !== undefined) stops.push(node.stop)
        if (nodes.every((node) => node !== undefined)) {
          quorumUrls = nodes.map((node) => node!.url)
          notes.push(`redis quorum: own redis-server x${QUORUM_NODES} on 127.0.0.1:${nodes.map((node) => node!.port).join(', ')}`)
        } else notes.push('redis quorum: skipped (a redis-server did not start)')
      } else notes.push(`redis quorum: skipped (no redis-server on PATH and no REDIS_QUORUM_URLS with ${QUORUM_NODES} URLs)`)
    }
    if (want.memcached) {
      const binary = onPath('memcached')
      if (process.env.MEMCACHED_SERVERS !== undefined && process.env.MEMCACHED_SERVERS !== '') {
        memcachedServers = process.env.MEMCACHED_SERVERS
        notes.push(`memcached: external server(s) from MEMCACHED_SERVERS`)
      } else if (binary !== undefined) {
        // One worker thread: with memcached's default four, the contestants' connections land on
        // different threads whose round trips differ by up to 5x on a small VM, and the ratio to
        // the floor would measure that draw rather than the code.
        const server = await startMemcached({ args: ['-t', '1'] }).catch((e: unknown) => {
          notes.push(`memcached: skipped (memcached did not start: ${errorText(e)})`)
          return undefined
        })
        if (server !== undefined) {
          stops.push(server.stop)
          memcachedServers = `${server.host}:${server.port}`
          versions.memcached = await versionOf(binary, '-V')
          notes.push(`memcached: own memcached -t 1 on ${server.host}:${server.port}`)
        }
      } else notes.push('memcached: skipped (no memcached on PATH and no MEMCACHED_SERVERS)')
    }
  } catch (e) {
    await stop()
    throw e
  }
  return {
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(memcachedServers === undefined ? {} : { memcachedServers }),
    ...(quorumUrls === undefined ? {} : { quorumUrls }),
    notes,
    versions,
    stop
  }
}

/**
 * The servers of a `--cluster` run, all on free loopback ports: one
 * `redis-server` (the baseline), a primary with one replica, and a 6-node
 * cluster (3 masters, 3 replicas, built like the test suite's). Needs
 * `redis-server` and `redis-cli` on PATH.
 *
 * @example
 * import { startClusterServers } from './servers.js'
 * const servers = await startClusterServers()
 * await servers.stop()
 *
 * @since 0.1.0
 */
export const startClusterServers = async (): Promise<Servers> => {
  const binary = onPath('redis-server')
  if (binary === undefined || onPath('redis-cli') === undefined) throw new Error('--cluster needs redis-server and redis-cli on PATH')
  // The replica writes the primary's snapshot to its folder: a temporary one.
  const dir = mkdtempSync(join(tmpdir(), 'leaselock-bench-replica-'))
  const single = await startRedis({ args: ['--loglevel', 'warning'] })
  const primary = await startRedis({ args: ['--loglevel', 'warning', '--repl-diskless-sync-delay', '0', '--dir', dir] })
  const replica = await startRedis({ args: ['--loglevel', 'warning', '--replicaof', primary.host, String(primary.port), '--dir', dir] })
  await eventually('the replica in sync', async () => (await info(replica.port, 'replication')).get('master_link_status') === 'up', 10_000)
  const cluster = await startCluster()
  return {
    redisUrl: single.url,
    redisPrimaryUrl: primary.url,
    redisClusterNodes: cluster.rootNodes.map((n) => `${n.host}:${n.port}`).join(','),
    notes: [
      `redis: own redis-server on 127.0.0.1:${single.port}`,
      `redis: own primary on 127.0.0.1:${primary.port} with a replica on ${replica.port}`,
      `redis cluster: own 6 nodes (3 masters, 3 replicas) on ${cluster.rootNodes.map((n) => n.port).join(', ')}`
    ],
    versions: { redis: await versionOf(binary, '--version') },
    stop: async () => {
      await Promise.all([single.stop(), replica.stop(), primary.stop(), cluster.stop()])
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
