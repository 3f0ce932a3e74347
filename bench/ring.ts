/**
 * The handoff floor: a raw node-redis ring, no leaselock code. The key names
 * the process whose turn it is; the holder's release is one script that checks
 * the key still names it, sets it to the next process and `PUBLISH`es to that
 * process's channel, which its subscriber connection hears. A handoff thus
 * costs one script and one message, nothing else: no lock can hand over in
 * fewer round trips, so the contention figures of a real lock are compared
 * with this ring's, measured with the same processes, hold and pause.
 *
 * @since 0.3.0
 */
import { channel } from 'node:diagnostics_channel'
import { createClient } from 'redis'
import { Locker, mustRelease } from './locker.js'

/**
 * Where a process sits in the ring: its index among `of` processes, and the
 * key they take turns on. Any other key is a ring of one (the warm-up keys).
 *
 * @since 0.3.0
 */
export interface Seat {
  readonly index: number
  readonly of: number
  readonly key: string
}

/**
 * Passes the key on: `KEYS[1]` must name `ARGV[1]` (the holder); it is set to
 * `ARGV[2]` (the next) and `ARGV[2]` is published on channel `ARGV[3]`.
 *
 * @example
 * import { passScript } from './ring.js'
 * assert.ok(passScript.includes('PUBLISH'))
 *
 * @since 0.3.0
 */
export const passScript =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]); redis.call('PUBLISH', ARGV[3], ARGV[2]); return 1 end return 0"

/**
 * The channel on which the process at `index` hears that `key` is its turn.
 *
 * @example
 * import { ringChannel } from './ring.js'
 * assert.strictEqual(ringChannel('k', 2), 'k:ring:2')
 *
 * @since 0.3.0
 */
export const ringChannel = (key: string, index: number): string => `${key}:ring:${index}`

/**
 * The diagnostics channel on which a ring seat says it heard its turn (the
 * contention worker timestamps it, as it does leaselock's `leaselock:handoff`).
 *
 * @example
 * import { TURN_CHANNEL } from './ring.js'
 * assert.strictEqual(TURN_CHANNEL, 'leaselock-bench:turn')
 *
 * @since 0.3.0
 */
export const TURN_CHANNEL = 'leaselock-bench:turn'
const turnHeard = channel(TURN_CHANNEL)

const noop = (): void => undefined

/**
 * One process's seat in the ring, as a {@link Locker}: `acquire` of the ring
 * key answers once it is this process's turn (at once if it already is, or
 * `undefined` after `timeoutMs`); the release passes the turn to the next
 * seat. The seat at index 0 starts with the turn. `leave` passes on a turn
 * received but never taken, so the others are not left waiting for it.
 *
 * @example
 * import { rawRing } from './ring.js'
 * const locker = await rawRing('redis://127.0.0.1:6379', { index: 0, of: 1, key: 'ring' })
 * const release = await locker.acquire('ring', 1000, 1000)
 * await release?.()
 * await locker.close()
 *
 * @since 0.3.0
 */
export const rawRing = async (url: string, seat: Seat): Promise<Locker> => {
  const client = createClient({ url, socket: { connectTimeout: 5000, reconnectStrategy: false } })
  client.on('error', noop)
  await client.connect()
  const subscriber = client.duplicate()
  subscriber.on('error', noop)
  await subscriber.connect()
  const close = async (): Promise<void> => {
    await Promise.all([client.close(), subscriber.close()])
  }
  let turn = seat.index === 0
  let holding = false
  let wake: () => void = noop
  await subscriber.subscribe(ringChannel(seat.key, seat.index), () => {
    turn = true
    if (turnHeard.hasSubscribers) turnHeard.publish(seat.index)
    wake()
  })
  if (seat.index === 0) await client.sendCommand(['SET', seat.key, '0'])
  const sha = String(await client.sendCommand(['SCRIPT', 'LOAD', passScript]))
  const next = String((seat.index + 1) % seat.of)
  const pass = async (key: string, to: string): Promise<boolean> =>
    Number(await client.sendCommand(['EVALSHA', sha, '1', key, String(seat.index), to, ringChannel(key, Number(to))])) === 1
  const releaseRing = async (): Promise<void> => {
    holding = false
    turn = false
    mustRelease('ring', seat.key, await pass(seat.key, next))
  }
  return {
    acquire: async (key, _ttlMs, timeoutMs) => {
      if (key !== seat.key) {
        await client.sendCommand(['SET', key, String(seat.index)])
        return async () => mustRelease('ring', key, await pass(key, String(seat.index)))
      }
      if (!turn) {
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>((resolve) => {
          wake = resolve
          timer = setTimeout(resolve, timeoutMs)
        })
        clearTimeout(timer)
        wake = noop
        if (!turn) return undefined
      }
      holding = true
      return releaseRing
    },
    leave: async () => {
      if (turn && !holding) await releaseRing()
    },
    close
  }
}
