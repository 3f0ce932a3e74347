/**
 * The Redis Cluster adapter: `connectRedisCluster`, a {@link RedisDriver} over
 * node-redis's own cluster client (`createCluster`), which discovers the
 * nodes, routes every command to the master of its key's slot, and follows
 * `MOVED` and `ASK` redirections and failovers by itself.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { ClientClosedError, ClientOfflineError, ErrorReply, createCluster } from 'redis'
import { driverError } from '../src/Driver.js'
import { LockError, configError, connectFailed } from '../src/LockError.js'
import type { RedisClusterConnectOptions, RedisConnection } from '../src/redis/RedisConnection.js'
import { RedisReply, isTryAgain } from '../src/redis/RedisReply.js'
import type { RedisDriver, RedisSubscribe } from '../src/redis/redisStore.js'
import { commandKey } from '../src/redis/slots.js'
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from './node-redis.js'
import {
  SendCommand,
  checkOptions,
  isNotSent,
  optionRules,
  replyOf,
  sendAndWaitWithin,
  sendWithin,
  untilServed,
  settleWithin
} from './node-redis-common.js'

const RECONNECT_MAX_MS = 1000
/**
 * After a node's connection drops, the slot map is read again this long after
 * the first reconnection attempt, and again at later attempts: so a promoted
 * replica is found soon after the failover (node-redis's default waits 5 s).
 */
const TOPOLOGY_REFRESH_MS = 200

/** A redirection: the command did not run on this node (the slot moved, or is moving). */
const isRedirect = (reply: RedisReply): boolean => reply instanceof Error && /^(MOVED|ASK) /.test(reply.message)

const first = (replies: readonly [RedisReply, RedisReply]): RedisReply => replies[0]
const itself = (reply: RedisReply): RedisReply => reply

/**
 * Connects to a Redis Cluster through node-redis's `createCluster`, within a
 * deadline, and answers the same `RedisConnection` as `connectRedis`, so
 * `redisStore(connection.driver)` and the lock core work unchanged:
 *
 * - **routing**: every command goes to the master of its first key's slot
 *   (see `commandKey`); node-redis follows `MOVED` and `ASK` (up to 16
 *   redirections: then a determinate `DriverFailure`) and re-reads the slot
 *   map after a redirection or a lost node, so the lock keeps working across
 *   resharding and failovers. A lock key, its fencing counter and its queue
 *   share a slot (see `fenceKey`), so each script runs on one node; `NOSCRIPT`
 *   from a node that never saw a script falls back to `EVAL` as on one server.
 * - **retries**: `TRYAGAIN` (a script on a slot being migrated) and
 *   `CLUSTERDOWN` (a slot without a reachable master, e.g. during a failover)
 *   mean the command did not run: it is sent again (after 10 ms, doubling up
 *   to 100 ms) until its deadline, then answered as a determinate
 *   `DriverFailure` carrying the last reply.
 * - **other failures**: a master that is down fails its commands at once,
 *   determinate (the client is offline) until the slot map names its replica;
 *   a connection lost with a command in flight, or a deadline passed after it
 *   was written, is indeterminate; any other error reply (`WRONGTYPE`, `NOPERM`,
 *   `CROSSSLOT` for a command of your own) is a reply, as on one server.
 * - **deadlines**: connecting (discovery and a connection to every master)
 *   within `connectTimeoutMs` (default 5000), each command within
 *   `commandTimeoutMs` (default 3000) including its redirections and retries.
 *   Commands carry no abort signal (with one, node-redis's cluster client
 *   spends about twice the CPU per command): node clients fail at once while
 *   disconnected, but a command routed to a node whose first connection is
 *   still being made waits for it, and may run after its deadline — reported
 *   indeterminate, as a lock's give-back of such an acquisition is sent
 *   behind it on the same connection.
 * - **wake-on-release** uses sharded pub/sub: the driver has `sSubscribe`
 *   (`SSUBSCRIBE` on the master of the channel's slot, resubscribed by
 *   node-redis when the slot moves or fails over), and the store publishes
 *   with `SPUBLISH` on a channel in the lock key's slot, so a release reaches
 *   only the node its waiters listen on.
 * - **`syncReplicas`**: `sendAndWait` writes the script and `WAIT` together on
 *   the connection to the key's master; a redirection or `TRYAGAIN` in reply
 *   sends both again (after `MOVED`, once node-redis has read the new slot map).
 *
 * Failures to connect are `ConnectFailed` naming the root nodes (never the
 * credentials); bad options are a `ConfigError` before any I/O.
 *
 * @example
 * import { makeLock } from 'leaselock'
 * import { connectRedisCluster, redisStore } from 'leaselock/redis'
 *
 * // Any nodes of the cluster, e.g. "10.0.0.1:7000,10.0.0.2:7000".
 * const rootNodes = (process.env.REDIS_CLUSTER_NODES ?? 'localhost:7000').split(',').map((node) => {
 *   const [host, port] = node.split(':')
 *   return { host: host ?? 'localhost', port: Number(port) }
 * })
 * const connected = await connectRedisCluster({ rootNodes })()
 * if (connected._tag === 'Left') throw new Error('no cluster')
 * const lock = makeLock(redisStore(connected.right.driver))
 * const lease = await lock.acquire('{tenant:42}:invoices', 10_000, 1_000)()
 * assert.strictEqual(lease._tag, 'Right')
 * if (lease._tag === 'Right') await lock.release(lease.right)()
 * await connected.right.close()
 *
 * @since 0.1.0
 */
export const connectRedisCluster =
  (options: RedisClusterConnectOptions): TE.TaskEither<LockError, RedisConnection> =>
  () => {
    const invalid = checkOptions(
      options,
      [
        ['rootNodes', ...optionRules.nodes],
        ['username', ...optionRules.string],
        ['password', ...optionRules.string],
        ['connectTimeoutMs', ...optionRules.timeout],
        ['commandTimeoutMs', ...optionRules.timeout]
      ],
      ['rootNodes']
    )
    if (invalid.length > 0) return Promise.resolve(E.left(configError(invalid)))
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const target = options.rootNodes.map(({ host, port }) => `${host}:${port}`).join(', ')
    let lastError: unknown
    let closed = false
    const cluster = createCluster({
      // The discovery connections to root nodes only (they are closed once the slot map is read):
      // a node that accepts but never answers is given up on, instead of holding a socket forever.
      rootNodes: options.rootNodes.map(({ host, port }) => ({ socket: { host, port, connectTimeout: connectTimeoutMs, socketTimeout: connectTimeoutMs } })),
      defaults: {
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        socket: {
          connectTimeout: connectTimeoutMs,
          reconnectStrategy: (retries: number, cause: Error) => {
            lastError = cause
            return Math.min(50 * 2 ** Math.min(retries, 5), RECONNECT_MAX_MS)
          }
        },
        disableOfflineQueue: true,
        maintNotifications: 'disabled'
      },
      // Each command has the driver's own deadline (and abort signal) instead.
      commandOptions: { timeout: 0 },
      topologyRefreshOnReconnectionAttemptStrategy: TOPOLOGY_REFRESH_MS
    })
    cluster.on('error', (e: unknown) => {
      lastError = e
    })

    const sendCommand: SendCommand = (args, opts) => cluster.sendCommand(commandKey(args), false, [...args], opts)

    /** The script and WAIT on the connection to the key's master; a `MOVED` reply first refreshes the slot map. */
    const sendBoth = async (command: ReadonlyArray<string>, wait: ReadonlyArray<string>): Promise<readonly [RedisReply, RedisReply]> => {
      const key = commandKey(command)
      if (key === undefined) throw new ErrorReply('ERR sendAndWait needs a command with a key')
      const node = await cluster.getNodeClientForKey(key)
      if (!node.isReady) throw new ClientOfflineError()
      const replies = await Promise.all([replyOf(node.sendCommand([...command])), replyOf(node.sendCommand([...wait]))])
      // node-redis reads the new slot map when a command of its own meets MOVED.
      if (replies[0] instanceof Error && replies[0].message.startsWith('MOVED ')) await cluster.sendCommand(key, false, ['PTTL', key]).catch(() => undefined)
      return replies
    }

    const driver: RedisDriver = {
      send: (command) => () =>
        untilServed(commandTimeoutMs, (remainingMs) => sendWithin(sendCommand, command, remainingMs, false), isTryAgain, itself),
      sendAndWait: (command, replicas, waitMs) => () =>
        untilServed(
          commandTimeoutMs + waitMs,
          (remainingMs) => sendAndWaitWithin(sendBoth, command, replicas, waitMs, Math.max(1, remainingMs - waitMs)),
          (reply) => isTryAgain(reply) || isRedirect(reply),
          first
        ),
      sSubscribe: ((channel, onMessage) => async () => {
        if (closed) return E.left(driverError(new ClientClosedError(), false))
        const subscribed = await settleWithin(
          cluster.sSubscribe(channel, (message) => onMessage(message)),
          connectTimeoutMs + commandTimeoutMs
        )
        return E.isRight(subscribed) ? E.right(undefined) : E.left(driverError(subscribed.left, !isNotSent(subscribed.left)))
      }) satisfies RedisSubscribe
    }

    const close = async (): Promise<void> => {
      closed = true
      await settleWithin(cluster.close(), commandTimeoutMs)
      cluster.destroy()
    }

    const failure = (why: string): LockError => {
      const cause = lastError instanceof Error ? lastError.message : lastError === undefined ? 'no answer' : String(lastError)
      return connectFailed(target, new Error(`${why}: ${cause}`, { cause: lastError }))
    }

    return new Promise<E.Either<LockError, RedisConnection>>((resolve) => {
      const timer = setTimeout(() => {
        cluster.destroy()
        resolve(E.left(failure(`no cluster connection within ${connectTimeoutMs} ms`)))
      }, connectTimeoutMs)
      cluster.connect().then(
        () => {
          clearTimeout(timer)
          resolve(E.right({ driver, close }))
        },
        (e: unknown) => {
          clearTimeout(timer)
          cluster.destroy()
          lastError ??= e
          resolve(E.left(failure('cluster discovery failed')))
        }
      )
    })
  }
