/**
 * Everything the benchmark measures, as data: which library, on which backend
 * and client, compared with which floor, and whether it takes part in the
 * multi-process contention scenario. Worker processes look contestants up here
 * by id, so the parent and the workers always build the same thing.
 *
 * @since 0.1.0
 */
import { Backend, Kind, Locker } from './locker.js'
import { rawIoredis, rawMemjs, rawNodeRedis } from './floors.js'
import { Seat, rawRing } from './ring.js'
import { mutexPeer, redlockPeer, redlockQuorumPeer, semaphorePeer } from './peers.js'
import { oursIoredis, oursMemcached, oursMemory, oursQuorum, oursRedis, oursRedisCluster, oursRedisSemaphore, oursRedisSynced } from './ours.js'
import type { Endpoints } from './servers.js'

/**
 * @since 0.1.0
 */
export interface Contestant {
  /** Stable id, used in the JSON and by the workers. */
  readonly id: string
  /** What the table and the chart call it. */
  readonly label: string
  readonly kind: Kind
  readonly backend: Backend
  /** The client library underneath. */
  readonly client: string
  /** The id of the raw-client floor this one is compared with. */
  readonly floor?: string
  /** Whether it runs in the contention scenario (a lock that can wait, shared between processes). */
  readonly contends: boolean
  /** Whether it runs on the three independent quorum servers rather than the single Redis. */
  readonly quorum?: boolean
  /** Measured only in the handoff scenario, as the floor of contention (the raw ring): not a lock for one process. */
  readonly handoffOnly?: boolean
  /** Connects; a contention worker also says where it sits among the processes (`seat`). */
  readonly open: (endpoints: Endpoints, seat?: Seat) => Promise<Locker>
}

const need = <A>(what: string, value: A | undefined): A => {
  if (value === undefined) throw new Error(`${what} is not available in this run`)
  return value
}

/**
 * All contestants, in the order the table shows them.
 *
 * @example
 * import { contestants } from './contestants.js'
 * assert.ok(contestants.some((c) => c.id === 'redlock'))
 *
 * @since 0.1.0
 */
export const contestants: ReadonlyArray<Contestant> = [
  {
    id: 'leaselock-memory',
    label: 'leaselock memory',
    kind: 'ours',
    backend: 'memory',
    client: 'in-process',
    contends: false,
    open: () => oursMemory()
  },
  {
    id: 'leaselock-redis',
    label: 'leaselock redis',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis',
    floor: 'raw-node-redis',
    contends: true,
    open: (e) => oursRedis(need('Redis', e.redisUrl))
  },
  {
    id: 'raw-node-redis',
    label: 'raw node-redis',
    kind: 'floor',
    backend: 'redis',
    client: 'node-redis',
    contends: false,
    open: (e) => rawNodeRedis(need('Redis', e.redisUrl))
  },
  {
    id: 'raw-ring',
    label: 'raw handoff ring',
    kind: 'floor',
    backend: 'redis',
    client: 'node-redis',
    contends: false,
    handoffOnly: true,
    open: (e, seat) => rawRing(need('Redis', e.redisUrl), need('A seat in the ring', seat))
  },
  {
    id: 'raw-ioredis',
    label: 'raw ioredis',
    kind: 'floor',
    backend: 'redis',
    client: 'ioredis',
    contends: false,
    open: (e) => rawIoredis(need('Redis', e.redisUrl))
  },
  {
    id: 'leaselock-ioredis',
    label: 'leaselock ioredis',
    kind: 'ours',
    backend: 'redis',
    client: 'ioredis',
    floor: 'raw-ioredis',
    contends: true,
    open: (e) => oursIoredis(need('Redis', e.redisUrl))
  },
  {
    id: 'redlock',
    label: 'redlock 5',
    kind: 'peer',
    backend: 'redis',
    client: 'ioredis',
    floor: 'raw-ioredis',
    contends: true,
    open: (e) => redlockPeer(need('Redis', e.redisUrl))
  },
  {
    id: 'redis-semaphore',
    label: 'redis-semaphore Mutex',
    kind: 'peer',
    backend: 'redis',
    client: 'ioredis',
    floor: 'raw-ioredis',
    contends: true,
    open: (e) => mutexPeer(need('Redis', e.redisUrl))
  },
  {
    id: 'leaselock-quorum',
    label: 'leaselock quorum x3',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis',
    contends: true,
    quorum: true,
    open: (e) => oursQuorum(need('Redis quorum', e.quorumUrls), true)
  },
  {
    id: 'leaselock-quorum-nofence',
    label: 'leaselock quorum x3, fencing off',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis',
    contends: false,
    quorum: true,
    open: (e) => oursQuorum(need('Redis quorum', e.quorumUrls), false)
  },
  {
    id: 'redlock-quorum',
    label: 'redlock 5 x3',
    kind: 'peer',
    backend: 'redis',
    client: 'ioredis',
    contends: true,
    quorum: true,
    open: (e) => redlockQuorumPeer(need('Redis quorum', e.quorumUrls))
  },
  {
    id: 'leaselock-memcached',
    label: 'leaselock memcached',
    kind: 'ours',
    backend: 'memcached',
    client: 'memjs',
    floor: 'raw-memjs',
    contends: true,
    open: (e) => oursMemcached(need('Memcached', e.memcachedServers))
  },
  {
    id: 'raw-memjs',
    label: 'raw memjs',
    kind: 'floor',
    backend: 'memcached',
    client: 'memjs',
    contends: false,
    open: (e) => rawMemjs(need('Memcached', e.memcachedServers))
  }
]

/**
 * The contestants of a `--cluster` run: leaselock on one node (the baseline
 * the others are compared with, measured in the same run), on a primary with
 * one replica and `syncReplicas: 1`, and on a 6-node cluster with keys spread
 * over its 3 masters, all on one master, and spread with `syncReplicas: 1`.
 *
 * @example
 * import { clusterContestants } from './contestants.js'
 * assert.strictEqual(clusterContestants[0]?.id, 'leaselock-redis')
 *
 * @since 0.1.0
 */
export const clusterContestants: ReadonlyArray<Contestant> = [
  { ...contestants.find((c) => c.id === 'leaselock-redis')!, label: 'one node' },
  {
    id: 'leaselock-redis-sync',
    label: 'one node + replica, syncReplicas 1',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis',
    floor: 'leaselock-redis',
    contends: false,
    open: (e) => oursRedisSynced(need('A Redis primary with a replica', e.redisPrimaryUrl))
  },
  {
    id: 'leaselock-cluster',
    label: 'cluster, keys on 3 masters',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis cluster',
    floor: 'leaselock-redis',
    contends: true,
    open: (e) => oursRedisCluster(need('A Redis Cluster', e.redisClusterNodes), { oneMaster: false, syncReplicas: 0 })
  },
  {
    id: 'leaselock-cluster-one-master',
    label: 'cluster, keys on 1 master',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis cluster',
    floor: 'leaselock-redis',
    contends: false,
    open: (e) => oursRedisCluster(need('A Redis Cluster', e.redisClusterNodes), { oneMaster: true, syncReplicas: 0 })
  },
  {
    id: 'leaselock-cluster-sync',
    label: 'cluster, keys on 3 masters, syncReplicas 1',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis cluster',
    floor: 'leaselock-redis',
    contends: false,
    open: (e) => oursRedisCluster(need('A Redis Cluster', e.redisClusterNodes), { oneMaster: false, syncReplicas: 1 })
  }
]

/**
 * The limit of the semaphore scenario's semaphore.
 *
 * @example
 * import { SEMAPHORE_LIMIT } from './contestants.js'
 * assert.strictEqual(SEMAPHORE_LIMIT, 3)
 *
 * @since 0.4.0
 */
export const SEMAPHORE_LIMIT = 3

/**
 * The semaphore scenario's contestants: each `acquire` takes one permit of a
 * semaphore of {@link SEMAPHORE_LIMIT} on the single Redis server.
 *
 * @example
 * import { semaphoreContestants } from './contestants.js'
 * assert.ok(semaphoreContestants.some((c) => c.id === 'redis-semaphore-semaphore'))
 *
 * @since 0.4.0
 */
export const semaphoreContestants: ReadonlyArray<Contestant> = [
  {
    id: 'leaselock-semaphore',
    label: 'leaselock semaphore',
    kind: 'ours',
    backend: 'redis',
    client: 'node-redis',
    contends: false,
    open: (e) => oursRedisSemaphore(need('Redis', e.redisUrl), SEMAPHORE_LIMIT)
  },
  {
    id: 'redis-semaphore-semaphore',
    label: 'redis-semaphore Semaphore',
    kind: 'peer',
    backend: 'redis',
    client: 'ioredis',
    contends: false,
    open: (e) => semaphorePeer(need('Redis', e.redisUrl), SEMAPHORE_LIMIT)
  }
]

/**
 * The contestant with this id.
 *
 * @example
 * import { contestant } from './contestants.js'
 * assert.strictEqual(contestant('raw-memjs').backend, 'memcached')
 *
 * @since 0.1.0
 */
export const contestant = (id: string): Contestant => {
  const found = [...contestants, ...clusterContestants, ...semaphoreContestants].find((c) => c.id === id)
  if (found === undefined) throw new Error(`unknown contestant ${id}`)
  return found
}

/**
 * The contestants a run can measure: their backend was asked for and is up.
 *
 * @example
 * import { available } from './contestants.js'
 * assert.ok(available(['memory'], {}).every((c) => c.backend === 'memory'))
 *
 * @since 0.1.0
 */
export const available = (backends: ReadonlyArray<Backend>, endpoints: Endpoints): ReadonlyArray<Contestant> =>
  contestants.filter(
    (c) =>
      backends.includes(c.backend) &&
      (c.backend === 'memory' ||
        (c.backend === 'redis' && (c.quorum === true ? endpoints.quorumUrls !== undefined : endpoints.redisUrl !== undefined)) ||
        (c.backend === 'memcached' && endpoints.memcachedServers !== undefined))
  )
