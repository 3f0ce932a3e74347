import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rawRing, ringChannel } from '../bench/ring.js'
import type { Locker } from '../bench/locker.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { cli } from './support/redisCli.js'

const S = suite('bench: the raw handoff ring on a real server')

let server: RedisServer | undefined
const seats: Locker[] = []
S.before(async () => {
  server = await startRedis()
})
S.after(async () => {
  await Promise.all(seats.map((s) => s.close()))
  await server?.stop()
})

const seat = async (index: number, of: number, key: string): Promise<Locker> => {
  const locker = await rawRing(server!.url, { index, of, key })
  seats.push(locker)
  return locker
}

S('turns go round in seat order: a seat waits for its turn, and the key names its holder', async () => {
  const key = 'ring:order'
  const a = await seat(0, 3, key)
  const b = await seat(1, 3, key)
  const c = await seat(2, 3, key)
  const order: string[] = []
  const take = async (name: string, l: Locker): Promise<void> => {
    const release = await l.acquire(key, 1_000, 2_000)
    assert.ok(release !== undefined, `${name} got its turn`)
    order.push(`${name}:${String(await cli(server!.port, 'GET', key))}`)
    await release()
  }
  // c and b ask first, but the turn starts at seat 0 and goes 0 → 1 → 2 → 0
  await Promise.all([take('c', c), take('b', b), take('a', a)])
  assert.equal(order, ['a:0', 'b:1', 'c:2'])
  assert.is(String(await cli(server!.port, 'GET', key)), '0', 'the last release handed it back to seat 0')
})

S('a seat whose turn never comes gives up after its timeout; one that leaves with a turn it never took passes it on', async () => {
  const key = 'ring:leave'
  const a = await seat(0, 2, key)
  const b = await seat(1, 2, key)
  const t0 = performance.now()
  assert.is(await b.acquire(key, 1_000, 100), undefined, 'not its turn')
  assert.ok(performance.now() - t0 >= 95)
  await a.leave?.()
  const release = await b.acquire(key, 1_000, 1_000)
  assert.ok(release !== undefined, 'seat 0 left and passed its turn on')
  await release()
})

S('any other key is a ring of one (the warm-up): taken and released at once, on its own channel', async () => {
  const a = await seat(0, 2, 'ring:main')
  for (let i = 0; i < 3; i++) {
    const release = await a.acquire('ring:warm', 1_000, 1_000)
    assert.ok(release !== undefined)
    await release()
  }
  assert.is(String(await cli(server!.port, 'GET', 'ring:warm')), '0')
  assert.is(ringChannel('ring:warm', 0), 'ring:warm:ring:0')
})

S.run()
