/**
 * The local Redis Cluster and Sentinel deployments, started once per test run
 * on first use and shared by every test file that needs them (uvu runs all
 * test files in one process). Their processes do not keep the process alive:
 * they are killed, and their folders removed, when the test process exits.
 * A test that kills or freezes a node brings the deployment back to
 * `healthy()` before it ends, so the next file finds it whole.
 */
import { RedisClusterDeployment, startCluster } from './redisCluster.js'
import { RedisSentinelDeployment, startSentinel } from './redisSentinel.js'

let cluster: Promise<RedisClusterDeployment> | undefined
let sentinel: Promise<RedisSentinelDeployment> | undefined

/** The shared 6-node cluster (3 masters, 3 replicas), started on the first call. */
export const sharedCluster = (): Promise<RedisClusterDeployment> => (cluster ??= startCluster())

/** The shared Sentinel deployment (primary, replica, 3 sentinels), started on the first call. */
export const sharedSentinel = (): Promise<RedisSentinelDeployment> => (sentinel ??= startSentinel())

/**
 * Where the deployments are, as the environment of the checked examples (README and doc
 * comments) reads it: `REDIS_CLUSTER_NODES` and `REDIS_SENTINELS` as `host:port,…`, and
 * `REDIS_SENTINEL_NAME`.
 */
export const deploymentEnv = (cluster: RedisClusterDeployment, sentinel: RedisSentinelDeployment): Record<string, string> => ({
  REDIS_CLUSTER_NODES: cluster.rootNodes.map((n) => `${n.host}:${n.port}`).join(','),
  REDIS_SENTINELS: sentinel.sentinelNodes.map((n) => `${n.host}:${n.port}`).join(','),
  REDIS_SENTINEL_NAME: sentinel.name
})
