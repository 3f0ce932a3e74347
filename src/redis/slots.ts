/**
 * Redis Cluster key slots, computed the way the cluster computes them, and the
 * wake-up channel that shares a lock key's slot (sharded pub/sub, `SPUBLISH`
 * inside a script, must stay in the slot of the keys the script touches).
 *
 * @since 0.1.0
 */
import * as O from 'fp-ts/lib/Option.js'
import { hashTag } from './keys.js'

/**
 * How many slots a Redis Cluster has: 16384.
 *
 * @example
 * import { SLOT_COUNT } from 'leaselock/redis'
 * assert.strictEqual(SLOT_COUNT, 16384)
 *
 * @since 0.1.0
 */
export const SLOT_COUNT = 16_384

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), one table entry per byte value. */
const CRC_TABLE: ReadonlyArray<number> = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  return crc
})

const crcStep = (crc: number, byte: number): number => ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]!

const crc16 = (bytes: Uint8Array): number => bytes.reduce(crcStep, 0)

/** CRC16 of an ASCII string, without encoding it first. */
const asciiCrc16 = (s: string): number => {
  let crc = 0
  for (let i = 0; i < s.length; i++) crc = crcStep(crc, s.charCodeAt(i))
  return crc
}

const utf8 = new TextEncoder()

/**
 * The cluster slot of a key: CRC16 of its hash tag (see `hashTag`), or of the
 * whole key when it has none, modulo 16384 — what `CLUSTER KEYSLOT` answers.
 *
 * @example
 * import { keySlot } from 'leaselock/redis'
 * assert.strictEqual(keySlot('foo'), 12182)
 * assert.strictEqual(keySlot('{user:1}:lock'), keySlot('user:1'))
 *
 * @since 0.1.0
 */
export const keySlot = (key: string): number => {
  const tag = hashTag(key)
  return crc16(utf8.encode(O.isSome(tag) ? tag.value : key)) % SLOT_COUNT
}

/** For each slot, the shortest base-36 numeral that hashes to it; built on first use (a few ms). */
let tags: ReadonlyArray<string> | undefined

const buildTags = (): ReadonlyArray<string> => {
  const found: Array<string | undefined> = new Array(SLOT_COUNT)
  let missing = SLOT_COUNT
  for (let i = 0; missing > 0; i++) {
    const tag = i.toString(36)
    const slot = asciiCrc16(tag) % SLOT_COUNT
    if (found[slot] === undefined) {
      found[slot] = tag
      missing--
    }
  }
  return found as ReadonlyArray<string>
}

/**
 * A short hash tag that lands in `slot` (a base-36 numeral of at most 4
 * characters): `{<tag>}…` names a key or channel in that slot.
 *
 * @example
 * import { keySlot, slotTag } from 'leaselock/redis'
 * assert.strictEqual(keySlot(`{${slotTag(5000)}}anything`), 5000)
 *
 * @since 0.1.0
 */
export const slotTag = (slot: number): string => (tags ??= buildTags())[slot]!

/**
 * The wake-up channel of a store (named `channel`) in the slot of `key`:
 * `{<slot tag>}<channel>`. A store on a cluster subscribes to it once per slot
 * its waiters wait in, and the scripts `SPUBLISH` on it from the node that owns
 * the key, so a release wakes its waiters without broadcasting to every node.
 *
 * @example
 * import { keySlot, slotChannel } from 'leaselock/redis'
 * const channel = slotChannel('jobs:nightly', 'leaselock:wake:abc')
 * assert.strictEqual(keySlot(channel), keySlot('jobs:nightly'))
 * assert.ok(channel.endsWith('}leaselock:wake:abc'))
 *
 * @since 0.1.0
 */
export const slotChannel = (key: string, channel: string): string => `{${slotTag(keySlot(key))}}${channel}`

const SCRIPT_COMMANDS: ReadonlySet<string> = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO'])

/**
 * The key a cluster client routes a command by: the first declared key of a
 * script (`EVALSHA sha numkeys key…`), none for a script without keys, and
 * otherwise the first argument (`GET key`, `SET key …`). A command whose first
 * argument is no key (`PING`, `CLUSTER INFO`) lands on some node: fine for
 * commands any node answers.
 *
 * @example
 * import { commandKey } from 'leaselock/redis'
 * assert.strictEqual(commandKey(['EVALSHA', 'abc', '2', 'k', '{k}:fence', 'tok']), 'k')
 * assert.strictEqual(commandKey(['EVAL', 'return 1', '0']), undefined)
 * assert.strictEqual(commandKey(['GET', 'k']), 'k')
 *
 * @since 0.1.0
 */
export const commandKey = (command: ReadonlyArray<string>): string | undefined =>
  SCRIPT_COMMANDS.has((command[0] ?? '').toUpperCase()) ? (Number(command[2]) > 0 ? command[3] : undefined) : command[1]
