import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { createClient } from 'redis'
import { CommandTimeoutError, connectRedis, nodeRedisDriver, nodeRedisSubscriber } from '../adapters/node-redis.js'
import type { RedisConnection, RedisConnectOptions } from '../src/redis/RedisConnection.js'
import type { DriverError } from '../src/Driver.js'
import { LockError, code, message } from '../src/LockError.js'
import type { RedisReply } from '../src/redis/RedisReply.js'
import type { RedisDriver } from '../src/redis/redisStore.js'
import { freePort } from './support/freePort.js'
import { RedisServer, startRedis } from './support/redisServer.js'
import { sleep } from './support/expect.js'


const timed = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  const t0 = performance.now()
  const a = await f()
  return [a, performance.now() - t0]
}

const connected = async (options: RedisConnectOptions): Promise<RedisConnection> => {
  const r = await connectRedis(options)()
  if (E.isLeft(r)) throw new Error(`connect failed: ${JSON.stringify(r.left)}`)
  return r.right
}

const failedToConnect = async (options: RedisConnectOptions): Promise<LockError> => {
  const r = await connectRedis(options)()
  if (E.isRight(r)) {
    await r.right.close()
    throw new Error('connected, expected a failure')
  }
  return r.left
}

/** The error's message (`Cannot connect to <target>: …` for a connect failure). */
const causeText = (e: LockError): string => message(e)

const reply = async (driver: RedisDriver, command: ReadonlyArray<string>): Promise<RedisReply> => {
  const r = await driver.send(command)()
  if (E.isLeft(r)) throw new Error(`${command.join(' ')} failed: ${String(r.left.cause)}`)
  return r.right
}

const failure = async (driver: RedisDriver, command: ReadonlyArray<string>): Promise<DriverError> => {
  const r = await driver.send(command)()
  if (E.isRight(r)) throw new Error(`${command.join(' ')} answered ${String(r.right)}, expected a failure`)
  return r.left
}

/** Timers and sockets alive now, to check that a failed connect leaves none behind. */
const handles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap').length

const Connect = suite('connectRedis')
let secured: RedisServer

Connect.before(async () => {
  secured = await startRedis({ args: ['--requirepass', 's3cret pass'] })
})
Connect.after(async () => {
  await secured.stop()
})

Connect('no server on the port: fails within the connect deadline, naming the target, leaving no timer or socket', async () => {
  const port = await freePort()
  const before = handles()
  const [e, ms] = await timed(() => failedToConnect({ host: '127.0.0.1', port, connectTimeoutMs: 300 }))
  assert.ok(ms >= 290 && ms < 700, `failed after ${ms} ms`)
  assert.is(e._tag, 'ConnectFailed')
  assert.is(code(e), 'CONNECT_FAILED')
  assert.ok(e._tag === 'ConnectFailed' && e.target === `127.0.0.1:${port}`)
  assert.match(causeText(e), `Cannot connect to 127.0.0.1:${port}: no connection within 300 ms: connect ECONNREFUSED`)
  await sleep(150)
  assert.ok(handles() <= before, 'no timer or socket left behind')
})

Connect('connectRetries bounds the attempts: with 0, a refused connection fails at once', async () => {
  const port = await freePort()
  const [e, ms] = await timed(() => failedToConnect({ host: '127.0.0.1', port, connectTimeoutMs: 3000, connectRetries: 0 }))
  assert.ok(ms < 500, `failed after ${ms} ms`)
  assert.match(causeText(e), 'connection failed: connect ECONNREFUSED')
  const [, ms2] = await timed(() => failedToConnect({ host: '127.0.0.1', port, connectTimeoutMs: 3000, connectRetries: 2 }))
  assert.ok(ms2 >= 190 && ms2 < 800, `two retries 100 ms apart, failed after ${ms2} ms`)
})

Connect('a frozen server (SIGSTOP): the handshake never answers, connect still fails on time', async () => {
  const server = await startRedis()
  server.pause()
  try {
    const [e, ms] = await timed(() => failedToConnect({ uri: server.url, connectTimeoutMs: 300 }))
    assert.ok(ms < 700, `failed after ${ms} ms`)
    assert.match(causeText(e), 'no connection within 300 ms')
  } finally {
    await server.stop()
  }
})

Connect('password as an option, or in a redis:// URI with user and database', async () => {
  const a = await connected({ host: secured.host, port: secured.port, password: 's3cret pass', connectTimeoutMs: 2000 })
  assert.is(await reply(a.driver, ['PING']), 'PONG')
  await a.close()

  const b = await connected({ uri: `redis://default:${encodeURIComponent('s3cret pass')}@127.0.0.1:${secured.port}/3`, connectTimeoutMs: 2000 })
  assert.is(await reply(b.driver, ['SET', 'db-check', 'three']), 'OK')
  assert.match(String(await reply(b.driver, ['CLIENT', 'INFO'])), / db=3 /)
  assert.match(String(await reply(b.driver, ['CLIENT', 'INFO'])), / user=default /)
  await b.close()

  const c = await connected({ uri: `redis://127.0.0.1:${secured.port}`, username: 'default', password: 's3cret pass', database: 3 })
  assert.is(await reply(c.driver, ['GET', 'db-check']), 'three', 'credentials and database given beside a bare URI apply')
  await c.close()
})

Connect('a wrong or missing password fails at once with the server message, not after the deadline', async () => {
  const [wrong, ms] = await timed(() => failedToConnect({ host: secured.host, port: secured.port, password: 'nope', connectTimeoutMs: 3000 }))
  assert.ok(ms < 1000, `refused after ${ms} ms`)
  assert.match(causeText(wrong), 'the server refused the connection')
  assert.match(causeText(wrong), /WRONGPASS|invalid username-password/)

  const missing = await failedToConnect({ uri: secured.url, connectTimeoutMs: 3000 })
  assert.match(causeText(missing), 'NOAUTH')
  const hidden = await failedToConnect({ uri: `redis://:nope@127.0.0.1:${secured.port}`, connectTimeoutMs: 3000 })
  assert.ok(hidden._tag === 'ConnectFailed' && hidden.target === `redis://127.0.0.1:${secured.port}`, 'the target carries no credentials')
  assert.not.match(causeText(hidden), 'nope')
  const named = await failedToConnect({ uri: `redis://someone:nope@127.0.0.1:${secured.port}/2`, connectTimeoutMs: 3000 })
  assert.ok(named._tag === 'ConnectFailed' && named.target === `redis://127.0.0.1:${secured.port}`, 'nor a user name or database')
})

Connect('a URI node-redis cannot use is a ConfigError', async () => {
  const e = await failedToConnect({ uri: 'http://127.0.0.1:6379' })
  assert.is(e._tag, 'ConfigError')
  assert.ok(e._tag === 'ConfigError' && e.errors[0]!.startsWith('uri: '))
})

const Faults = suite('node-redis driver under faults')
let server: RedisServer

Faults.before(async () => {
  server = await startRedis()
})
Faults.after(async () => {
  await server.stop()
})

Faults('a frozen server: the command deadline returns an indeterminate failure; the late reply is ignored', async () => {
  const conn = await connected({ uri: server.url, commandTimeoutMs: 200 })
  try {
    server.pause()
    const [e, ms] = await timed(() => failure(conn.driver, ['SET', 'late', '1']))
    assert.ok(ms >= 190 && ms < 500, `gave up after ${ms} ms`)
    assert.ok(e.indeterminate, 'written, so it may have run')
    assert.instance(e.cause, CommandTimeoutError)
    server.resume()
    await sleep(50)
    assert.is(await reply(conn.driver, ['GET', 'late']), '1', 'it did run, once the server woke up')
  } finally {
    server.resume()
    await conn.close()
  }
})

Faults('close() is bounded by the command timeout even when the server is frozen', async () => {
  const conn = await connected({ uri: server.url, commandTimeoutMs: 200 })
  server.pause()
  try {
    const pending = conn.driver.send(['PING'])()
    const [, ms] = await timed(() => conn.close())
    assert.ok(ms < 500, `closed after ${ms} ms`)
    const e = await pending
    assert.ok(E.isLeft(e))
  } finally {
    server.resume()
  }
})

Faults('a closed client: determinate failure', async () => {
  const conn = await connected({ uri: server.url })
  await conn.close()
  const e = await failure(conn.driver, ['PING'])
  assert.not.ok(e.indeterminate, 'never sent')
  await conn.close()
})

Faults('server killed with a command in flight: indeterminate, no crash; offline: determinate; back after restart', async () => {
  const conn = await connected({ uri: server.url, commandTimeoutMs: 1000 })
  try {
    server.pause()
    const inFlight = conn.driver.send(['SET', 'k', 'v'])()
    await sleep(30)
    await server.kill()
    const lost = await inFlight
    assert.ok(E.isLeft(lost) && lost.left.indeterminate, 'the connection dropped after the command was written')
    const offline = await failure(conn.driver, ['PING'])
    assert.not.ok(offline.indeterminate, 'offline: refused before sending')
    await server.restart()
    let back: E.Either<DriverError, RedisReply> = E.right(null)
    for (let i = 0; i < 60; i++) {
      back = await conn.driver.send(['PING'])()
      if (E.isRight(back)) break
      await sleep(50)
    }
    assert.equal(back, E.right('PONG'), 'reconnected by itself')
  } finally {
    server.resume()
    await conn.close()
  }
})

Faults('a command still queued when its deadline passes is withdrawn: a determinate failure', async () => {
  const client = createClient({ socket: { host: server.host, port: server.port, reconnectStrategy: 100 } })
  client.on('error', () => undefined)
  await client.connect()
  const driver = nodeRedisDriver(client, { commandTimeoutMs: 150 })
  try {
    await server.kill()
    for (let i = 0; i < 50 && client.isReady; i++) await sleep(10)
    assert.not.ok(client.isReady)
    const e = await failure(driver, ['SET', 'queued', '1'])
    assert.not.ok(e.indeterminate, 'never left the offline queue')
    assert.instance(e.cause, CommandTimeoutError)
  } finally {
    client.destroy()
    await server.restart()
  }
})

Faults('RESP3 and RESP2 replies come out the same', async () => {
  const resp3 = await connected({ uri: server.url })
  const client = createClient({ socket: { host: server.host, port: server.port }, RESP: 2 })
  client.on('error', () => undefined)
  await client.connect()
  const resp2 = nodeRedisDriver(client)
  try {
    for (const driver of [resp3.driver, resp2]) {
      await reply(driver, ['DEL', 'h', 's'])
      await reply(driver, ['HSET', 'h', 'f', 'v'])
      await reply(driver, ['SADD', 's', 'm'])
      assert.equal(await reply(driver, ['HGETALL', 'h']), ['f', 'v'])
      assert.equal(await reply(driver, ['SMEMBERS', 's']), ['m'])
      assert.is(await reply(driver, ['EVAL', 'return false', '0']), null)
      assert.is(await reply(driver, ['EVAL', 'return true', '0']), 1)
      assert.is(await reply(driver, ['GET', 'missing']), null)
      const err = await reply(driver, ['EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '0'])
      assert.ok(err instanceof Error && err.message.startsWith('NOSCRIPT'), 'an error reply is a reply')
    }
  } finally {
    await resp3.close()
    await client.close()
  }
})

const Sub = suite('nodeRedisSubscriber')
let pubsubServer: RedisServer

Sub.before(async () => {
  pubsubServer = await startRedis()
})
Sub.after(async () => {
  await pubsubServer.stop()
})

Sub('opens one connection on first subscribe, confirms, delivers; close stops it and later subscribes fail', async () => {
  const client = createClient({ socket: { host: pubsubServer.host, port: pubsubServer.port } })
  client.on('error', () => undefined)
  await client.connect()
  const driver = nodeRedisDriver(client)
  const subscriber = nodeRedisSubscriber(client)
  try {
    const clientsBefore = String(await reply(driver, ['CLIENT', 'LIST'])).trim().split('\n').length
    const got: string[] = []
    assert.equal(await subscriber.subscribe('ch:a', (m) => got.push(`a ${m}`))(), E.right(undefined))
    assert.equal(await subscriber.subscribe('ch:b', (m) => got.push(`b ${m}`))(), E.right(undefined))
    assert.is(String(await reply(driver, ['CLIENT', 'LIST'])).trim().split('\n').length, clientsBefore + 1, 'one connection for both channels')
    assert.is(await reply(driver, ['PUBLISH', 'ch:a', '1 x y']), 1, 'subscribed before the task resolved')
    assert.is(await reply(driver, ['PUBLISH', 'ch:b', 'two']), 1)
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(10)
    assert.equal(got, ['a 1 x y', 'b two'])
    await subscriber.close()
    assert.is(await reply(driver, ['PUBLISH', 'ch:a', 'late']), 0, 'closed: nobody listens')
    const after = await subscriber.subscribe('ch:c', () => undefined)()
    assert.ok(E.isLeft(after) && !after.left.indeterminate, 'a closed subscriber refuses, determinately')
  } finally {
    await subscriber.close()
    await client.close()
  }
})

Sub('a frozen server: subscribe fails within the connect deadline, leaving no timer; the next one succeeds once it is back', async () => {
  const client = createClient({ socket: { host: pubsubServer.host, port: pubsubServer.port } })
  client.on('error', () => undefined)
  await client.connect()
  const subscriber = nodeRedisSubscriber(client, { connectTimeoutMs: 200, commandTimeoutMs: 200 })
  pubsubServer.pause()
  try {
    const before = handles()
    const [r, ms] = await timed(() => subscriber.subscribe('ch', () => undefined)())
    assert.ok(E.isLeft(r), 'failed')
    assert.ok(ms >= 190 && ms < 600, `after ${ms} ms`)
    pubsubServer.resume()
    await sleep(50)
    assert.ok(handles() <= before, 'no timer or socket left behind')
    assert.equal(await subscriber.subscribe('ch', () => undefined)(), E.right(undefined), 'retried with a fresh connection')
  } finally {
    pubsubServer.resume()
    await subscriber.close()
    await client.close()
  }
})

Sub('connectRedis: the driver can subscribe; close closes the subscriber connection too', async () => {
  const conn = await connected({ uri: pubsubServer.url })
  assert.ok(conn.driver.subscribe !== undefined)
  assert.equal(await conn.driver.subscribe!('ch:d', () => undefined)(), E.right(undefined))
  const probe = await connected({ uri: pubsubServer.url })
  try {
    assert.equal(await reply(probe.driver, ['PUBSUB', 'NUMSUB', 'ch:d']), ['ch:d', 1])
    await conn.close()
    // The server notices the closed socket on its own schedule: give it a moment.
    let after = await reply(probe.driver, ['PUBSUB', 'NUMSUB', 'ch:d'])
    for (let i = 0; i < 50 && JSON.stringify(after) !== JSON.stringify(['ch:d', 0]); i++) {
      await sleep(20)
      after = await reply(probe.driver, ['PUBSUB', 'NUMSUB', 'ch:d'])
    }
    assert.equal(after, ['ch:d', 0])
  } finally {
    await probe.close()
  }
})

Connect.run()
Faults.run()
Sub.run()
