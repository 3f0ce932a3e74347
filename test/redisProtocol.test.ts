import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import * as O from 'fp-ts/lib/Option.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { driverError } from '../src/Driver.js'
import type { LockError } from '../src/LockError.js'
import { checkRedisKey, companionKey, fenceKey, hashTag, queueKey } from '../src/redis/keys.js'
import { RedisReply, decodeFence, decodeFlag, decodeQueueReply, isNoScript, replyErrorCause } from '../src/redis/RedisReply.js'
import { RedisDriver, RedisSubscribe, redisStore } from '../src/redis/redisStore.js'
import { ManualClock } from '../src/Clock.js'
import { acquireOrEnqueueScript, acquireScript, evalCommand, evalShaCommand, leaveScript, pollScript, releaseScript, script } from '../src/redis/scripts.js'

/** A driver that answers from a list of canned results and records what it was sent (protocol logic only; the servers are in redisStore.test.ts). */
const scripted = (results: ReadonlyArray<E.Either<ReturnType<typeof driverError>, RedisReply>>) => {
  const sent: Array<ReadonlyArray<string>> = []
  let i = 0
  const driver: RedisDriver = {
    send: (command) => () => {
      sent.push(command)
      const result = results[i++]
      return Promise.resolve(result ?? E.left(driverError(new Error('no more canned replies'), false)))
    }
  }
  return { driver, sent }
}

const left = <A>(e: E.Either<LockError, A>): LockError => {
  if (E.isRight(e)) throw new Error(`expected a Left, got ${String(e.right)}`)
  return e.left
}

const Keys = suite('redis keys')

Keys('hashTag reads the first {…} the way Redis Cluster does', () => {
  assert.equal(hashTag('{user:1}:lock'), O.some('user:1'))
  assert.equal(hashTag('a{b}c{d}'), O.some('b'))
  assert.equal(hashTag('x}y{z}'), O.some('z'))
  assert.equal(hashTag('a{}b{c}'), O.none, 'an empty first tag means the whole key is hashed')
  assert.equal(hashTag('a{b'), O.none)
  assert.equal(hashTag('plain'), O.none)
})

Keys('fenceKey keeps a valid tag, wraps any other key in one, refuses keys it cannot co-locate', () => {
  assert.equal(fenceKey('jobs:nightly'), E.right('{jobs:nightly}:fence'))
  assert.equal(fenceKey('{user:1}:lock'), E.right('{user:1}:lock:fence'))
  assert.equal(fenceKey('a{b'), E.right('{a{b}:fence'))
  assert.equal(hashTag('{a{b}:fence'), O.some('a{b'), 'the wrapped key hashes as the original')
  const refused = left(fenceKey('a}b'))
  assert.is(refused._tag, 'InvalidArgument')
  assert.ok(refused._tag === 'InvalidArgument' && refused.message.includes('hash tag'), 'the message says why')
  assert.ok(E.isLeft(fenceKey('x{}y')))
})

Keys('queueKey follows the same rule; companionKey builds any companion name', () => {
  assert.equal(queueKey('jobs:nightly'), E.right('{jobs:nightly}:queue'))
  assert.equal(queueKey('{user:1}:lock'), E.right('{user:1}:lock:queue'))
  assert.ok(E.isLeft(queueKey('a}b')))
  assert.equal(companionKey(':x')('k'), E.right('{k}:x'))
})

Keys('checkRedisKey: length in UTF-8 bytes, reserved :fence and :queue suffixes, co-locatable counter', () => {
  const check = checkRedisKey(8)
  assert.equal(check('12345678'), E.right('12345678'))
  const tooLong = left(check('ééééé'))
  assert.ok(tooLong._tag === 'InvalidArgument' && tooLong.message.includes('10 bytes'), '5 characters, 10 bytes')
  const reserved = left(checkRedisKey(100)('{a}:fence'))
  assert.ok(reserved._tag === 'InvalidArgument' && reserved.message.includes('reserved'))
  const queue = left(checkRedisKey(100)('jobs:queue'))
  assert.ok(queue._tag === 'InvalidArgument' && queue.message.includes('reserved for wait queues'))
  assert.ok(E.isLeft(checkRedisKey(100)('a}b')))
  assert.ok(E.isRight(checkRedisKey(100)('{a}b}')), 'a valid tag makes a stray } harmless')
})

const Decoders = suite('redis reply decoders')

Decoders('decodeFence: nil is none, a positive integer is the token, anything else a typed error', () => {
  assert.equal(decodeFence(null), E.right(O.none))
  assert.equal(decodeFence('1'), E.right(O.some(1n)))
  assert.equal(decodeFence('9223372036854775807'), E.right(O.some(9223372036854775807n)), 'exact past 2^53')
  assert.equal(decodeFence(7), E.right(O.some(7n)))
  assert.equal(decodeFence(8n), E.right(O.some(8n)))
  for (const bad of ['0', '-1', '01', 'OK', '', 0, -3, 1.5, 2 ** 60, 0n, [], ['1'], {}, undefined, true]) {
    const r = decodeFence(bad)
    assert.ok(E.isLeft(r) && r.left._tag === 'UnexpectedReply', `rejects ${String(bad)}`)
  }
  const err = new Error('ERR boom')
  assert.equal(decodeFence(err), E.left({ _tag: 'ErrorReply', error: err }))
})

Decoders('decodeFlag: 1/0 as number or bigint; everything else a typed error', () => {
  assert.equal(decodeFlag(1), E.right(true))
  assert.equal(decodeFlag(0), E.right(false))
  assert.equal(decodeFlag(1n), E.right(true))
  assert.equal(decodeFlag(0n), E.right(false))
  for (const bad of [2, -1, '1', 'OK', null, [], undefined]) assert.ok(E.isLeft(decodeFlag(bad)), `rejects ${String(bad)}`)
})

Decoders('replyErrorCause and isNoScript', () => {
  const err = new Error('WRONGTYPE Operation against a key holding the wrong kind of value')
  assert.is(replyErrorCause({ _tag: 'ErrorReply', error: err }), err)
  assert.is(
    replyErrorCause({ _tag: 'UnexpectedReply', expected: '0 or 1', reply: 'x'.repeat(100) }).message,
    `unexpected Redis reply: expected 0 or 1, got "${'x'.repeat(40)}…"`
  )
  assert.match(replyErrorCause({ _tag: 'UnexpectedReply', expected: 'e', reply: [1, 2] }).message, 'an array of 2')
  assert.match(replyErrorCause({ _tag: 'UnexpectedReply', expected: 'e', reply: 5n }).message, 'got 5n')
  assert.match(replyErrorCause({ _tag: 'UnexpectedReply', expected: 'e', reply: new Map() }).message, '[object Map]')
  assert.ok(isNoScript(new Error('NOSCRIPT No matching script. Please use EVAL.')))
  assert.ok(!isNoScript(new Error('ERR NOSCRIPT')))
  assert.ok(!isNoScript('NOSCRIPT'))
})

const Scripts = suite('redis scripts')

Scripts('script() pairs source and SHA1; EVALSHA/EVAL vectors', () => {
  assert.is(script('return 1').sha1, 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db')
  assert.equal(evalShaCommand(acquireScript, ['k', '{k}:fence'], ['tok', '100']), [
    'EVALSHA',
    acquireScript.sha1,
    '2',
    'k',
    '{k}:fence',
    'tok',
    '100'
  ])
  assert.equal(evalCommand(releaseScript, ['k'], ['tok']), ['EVAL', releaseScript.source, '1', 'k', 'tok'])
})

const Store = suite('redisStore protocol logic (scripted driver)')

Store('acquire sends EVALSHA with the lock key, its counter, token and TTL; the grant carries the fence', async () => {
  const { driver, sent } = scripted([E.right('41')])
  const r = await redisStore(driver).acquire('k', 'tok', 1500)()
  assert.equal(r, E.right(O.some({ fence: 41n, validityMs: 1500, revision: '41' })))
  assert.equal(sent, [['EVALSHA', acquireScript.sha1, '2', 'k', '{k}:fence', 'tok', '1500', '86400000']])
})

Store('a NOSCRIPT reply is retried once with EVAL', async () => {
  const { driver, sent } = scripted([E.right(new Error('NOSCRIPT No matching script')), E.right(1)])
  const r = await redisStore(driver).release({ key: 'k', token: 'tok', revision: '1' })()
  assert.equal(r, E.right(true))
  assert.is(sent.length, 2)
  assert.equal(sent[1], ['EVAL', releaseScript.source, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 'tok', '86400000'])
})

Store('a NOSCRIPT failure from a driver that rejects on error replies is retried too', async () => {
  const { driver, sent } = scripted([E.left(driverError(new Error('NOSCRIPT No matching script'), true)), E.right(null)])
  const r = await redisStore(driver).extend({ key: 'k', token: 'tok', revision: '3' }, 500)()
  assert.equal(r, E.right(O.none))
  assert.is(sent[1]?.[0], 'EVAL')
})

Store('NOSCRIPT after EVAL is not retried again', async () => {
  const noscript = new Error('NOSCRIPT still')
  const { driver, sent } = scripted([E.right(noscript), E.right(noscript), E.right(1)])
  const e = left(await redisStore(driver).release({ key: 'k', token: 't', revision: '1' })())
  assert.is(sent.length, 2)
  assert.ok(e._tag === 'DriverFailure' && e.cause === noscript)
})

Store('extend answers the fence the script read from the counter (not the revision it was given); nil is not ours', async () => {
  const { driver, sent } = scripted([E.right('12'), E.right('13'), E.right(null)])
  const store = redisStore(driver)
  assert.equal(await store.extend({ key: 'k', token: 't', revision: '12' }, 900)(), E.right(O.some({ fence: 12n, validityMs: 900, revision: '12' })))
  assert.equal(await store.extend({ key: 'k', token: 't', revision: '12' }, 900)(), E.right(O.some({ fence: 13n, validityMs: 900, revision: '13' })))
  assert.equal(await store.extend({ key: 'k', token: 't', revision: '13' }, 900)(), E.right(O.none))
  assert.equal(sent[0]?.slice(2, 5), ['4', 'k', '{k}:fence'], 'the counter travels with the key')
})

Store('transport failures keep their indeterminate flag; error replies: acquire, release and extend indeterminate (each may have written before its failing command)', async () => {
  const cause = new Error('socket closed')
  const a = left(await redisStore(scripted([E.left(driverError(cause, true))]).driver).acquire('k', 't', 100)())
  assert.equal(a, { _tag: 'DriverFailure', key: 'k', cause, indeterminate: true })
  const b = left(await redisStore(scripted([E.left(driverError(cause, false))]).driver).release({ key: 'k', token: 't', revision: '1' })())
  assert.equal(b, { _tag: 'DriverFailure', key: 'k', cause, indeterminate: false })

  const wrongType = new Error('WRONGTYPE Operation against a key holding the wrong kind of value')
  const c = left(await redisStore(scripted([E.right(wrongType)]).driver).acquire('k', 't', 100)())
  assert.ok(c._tag === 'DriverFailure' && c.indeterminate && c.cause === wrongType)
  const d = left(await redisStore(scripted([E.right(wrongType)]).driver).release({ key: 'k', token: 't', revision: '1' })())
  assert.ok(d._tag === 'DriverFailure' && d.indeterminate)
  const f = left(await redisStore(scripted([E.right(wrongType)]).driver).extend({ key: 'k', token: 't', revision: '1' }, 10)())
  assert.ok(f._tag === 'DriverFailure' && f.indeterminate)
})

Store('an unexpected reply is an indeterminate failure that says what came back', async () => {
  const e = left(await redisStore(scripted([E.right('OK')]).driver).release({ key: 'k', token: 't', revision: '1' })())
  assert.ok(e._tag === 'DriverFailure' && e.indeterminate)
  assert.ok(e._tag === 'DriverFailure' && e.cause instanceof Error && e.cause.message.includes('expected 0 or 1, got "OK"'))
})

Store('a key that cannot get a co-located counter is refused before any I/O', async () => {
  const { driver, sent } = scripted([])
  const store = redisStore(driver, { maxKeyBytes: 16 })
  assert.ok(E.isLeft(store.checkKey('a}b')))
  assert.ok(E.isLeft(store.checkKey('x'.repeat(17))))
  assert.ok(E.isRight(store.checkKey('x'.repeat(16))))
  assert.equal(store.checkTtl(1), E.right(1))
  assert.ok(E.isLeft(await store.acquire('a}b', 't', 100)()))
  assert.is(sent.length, 0)
})

Store('a driver may be any TaskEither function', async () => {
  const store = redisStore({ send: () => TE.right(null) })
  assert.equal(await store.acquire('k', 't', 10)(), E.right(O.none))
  assert.is(store.name, 'redis')
})

const Queue = suite('redisStore wait queue (scripted driver, fake pub/sub)')

/** A subscribe capability that records subscriptions and lets the test publish. */
const pubsub = (outcomes: ReadonlyArray<boolean> = [true]) => {
  const subscriptions: Array<{ channel: string; onMessage: (m: string) => void }> = []
  let i = 0
  const subscribe: RedisSubscribe = (channel, onMessage) => () => {
    const ok = outcomes[Math.min(i++, outcomes.length - 1)]
    if (ok === true) subscriptions.push({ channel, onMessage })
    return Promise.resolve(ok === true ? E.right(undefined) : E.left(driverError(new Error('no subscriber connection'), false)))
  }
  const publish = (m: string): void => subscriptions.forEach((s) => s.onMessage(m))
  return { subscribe, subscriptions, publish, attempts: () => i }
}

Queue('a driver without subscribe gives a store without a queue; with it, a queue', () => {
  assert.is(redisStore(scripted([]).driver).queue, undefined)
  assert.ok(redisStore({ ...scripted([]).driver, subscribe: pubsub().subscribe }).queue !== undefined)
})

Queue('the first wait tries a plain acquire, then subscribes, then joins; later waits join at once', async () => {
  const { driver, sent } = scripted([E.right(null), E.right([0, '6']), E.right([0, '6'])])
  const ps = pubsub()
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { channel: 'wake:1' }).queue!
  assert.equal(await queue.acquireOrEnqueue('k', 't1', 1000, 2500.5)(), E.right({ _tag: 'Waiting', seen: 6n }))
  assert.equal(ps.subscriptions.map((s) => s.channel), ['wake:1'])
  assert.equal(sent, [
    ['EVALSHA', acquireScript.sha1, '2', 'k', '{k}:fence', 't1', '1000', '86400000'],
    ['EVALSHA', acquireOrEnqueueScript.sha1, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 't1', '1000', '2501', 'wake:1', '1000', '86400000']
  ])
  assert.equal(await queue.acquireOrEnqueue('k', 't2', 1000, 0)(), E.right({ _tag: 'Waiting', seen: 6n }))
  assert.equal(sent[2], ['EVALSHA', acquireOrEnqueueScript.sha1, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 't2', '1000', '1', 'wake:1', '1000', '86400000'])
  assert.is(ps.attempts(), 1, 'subscribed once')
})

Queue('a free key is taken without subscribing; a failed subscription still joins, and the next wait retries it', async () => {
  const ps = pubsub([false, true])
  const { driver, sent } = scripted([E.right('7'), E.right(null), E.right([0, '7']), E.right(null), E.right([0, '7'])])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }).queue!
  assert.equal(await queue.acquireOrEnqueue('k', 't0', 1000, 100)(), E.right({ _tag: 'Granted', grant: { fence: 7n, validityMs: 1000, revision: '7' } }))
  assert.is(ps.attempts(), 0, 'nothing waited: no subscription')
  assert.equal(await queue.acquireOrEnqueue('k', 't1', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n }))
  assert.is(ps.attempts(), 1)
  assert.is(sent[2]?.[1], acquireOrEnqueueScript.sha1, 'joined the queue anyway (it will poll)')
  assert.equal(await queue.acquireOrEnqueue('k', 't2', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n }))
  assert.is(ps.attempts(), 2, 'tried again')
  assert.is(ps.subscriptions.length, 1)
})

Queue('a waiting answer carries the safety-net poll: the holder\'s TTL, at most the claim TTL, only while the channel is up', async () => {
  const ps = pubsub([false, true])
  const { driver } = scripted([E.right(null), E.right([0, '7', 2_500]), E.right(null), E.right([0, '7', 300]), E.right([0, '7', 0]), E.right([0, '7', -1]), E.right([0, '7', 2_500])])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { claimMs: 1_000 }).queue!
  assert.equal(await queue.acquireOrEnqueue('k', 't1', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n }), 'no channel yet: poll on the retry policy')
  assert.equal(await queue.acquireOrEnqueue('k', 't2', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n, recheckMs: 300 }), 'the holder\'s TTL')
  assert.equal(await queue.poll('k', 't2', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n, recheckMs: 1 }), 'at least 1 ms')
  assert.equal(await queue.poll('k', 't2', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n, recheckMs: 1_000 }), 'a key without a TTL: the claim TTL')
  assert.equal(await queue.poll('k', 't2', 1000, 100)(), E.right({ _tag: 'Waiting', seen: 7n, recheckMs: 1_000 }), 'at most the claim TTL')
  assert.ok(E.isLeft(decodeQueueReply([0, '7', -2])), 'a held key has a TTL or none')
  assert.ok(E.isLeft(decodeQueueReply([1, '7', 100])), 'a grant has no holder TTL')
})

Queue('a notification "<fence> <claim> <token>" wakes that waiter with the handed fence and the claim TTL applied; stale, foreign and malformed ones are ignored', async () => {
  const clock = new ManualClock()
  const ps = pubsub()
  const { driver } = scripted([E.right(null), E.right([0, '10']), E.right(null)])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { clock, claimMs: 300 }).queue!
  await queue.acquireOrEnqueue('k', 'tok with spaces', 1000, 10_000)()
  const waiting = queue.awaitHandoff('k', 'tok with spaces', 5_000, 10n)
  ps.publish('12 300 someone else')
  ps.publish('garbage')
  ps.publish('0 300 tok with spaces')
  ps.publish('10 300 tok with spaces')
  ps.publish('42 tok with spaces')
  ps.publish('42 250 tok with spaces')
  assert.equal(await waiting, O.some({ fence: 42n, validityMs: 250, revision: '42' }))
  assert.is(clock.pending(), 0, 'the wait left no sleeper behind')
})

Queue('a notification that lands before the reply of the request that queued the waiter, or between two waits, is kept for the next wait', async () => {
  const clock = new ManualClock()
  const ps = pubsub()
  const { driver } = scripted([E.right(null), E.right([0, '3']), E.right([0, '4'])])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { clock }).queue!
  await queue.acquireOrEnqueue('k', 'other', 1000, 10_000)()
  const joining = queue.acquireOrEnqueue('k', 't', 1000, 10_000)()
  ps.publish('5 1000 t')
  assert.equal(await joining, E.right({ _tag: 'Waiting', seen: 4n }))
  ps.publish('3 1000 t')
  assert.equal(await queue.awaitHandoff('k', 't', 1_000, 4n), O.some({ fence: 5n, validityMs: 1000, revision: '5' }), 'kept, and a lower one later does not replace it')
})

Queue('awaitHandoff answers none when the time passes or the signal aborts, and waits even for an unknown token', async () => {
  const clock = new ManualClock()
  const ps = pubsub()
  const { driver } = scripted([E.right(null), E.right([0, '0'])])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { clock }).queue!
  await queue.acquireOrEnqueue('k', 't', 1000, 10_000)()
  const timed = queue.awaitHandoff('k', 't', 100, 0n)
  clock.advance(100)
  assert.equal(await timed, O.none)
  const controller = new AbortController()
  const aborted = queue.awaitHandoff('k', 't', 10_000, 0n, controller.signal)
  controller.abort()
  assert.equal(await aborted, O.none)
  const unknown = queue.awaitHandoff('k', 'never-queued', 50, 0n)
  let settled = false
  void unknown.then(() => (settled = true))
  await new Promise((resolve) => setImmediate(resolve))
  assert.not.ok(settled, 'no busy loop: it waits like any other')
  clock.advance(50)
  assert.equal(await unknown, O.none)
  assert.is(clock.pending(), 0)
})

Queue('poll and leave: their scripts, keys and arguments; a poll that got the key forgets the waiter', async () => {
  const ps = pubsub()
  const { driver, sent } = scripted([E.right(null), E.right([0, '2']), E.right([1, '3']), E.right(0)])
  const queue = redisStore({ ...driver, subscribe: ps.subscribe }, { claimMs: 250, channel: 'c' }).queue!
  await queue.acquireOrEnqueue('{a}:b', 't', 1000, 100)()
  assert.equal(await queue.poll('{a}:b', 't', 2000, 99.5)(), E.right({ _tag: 'Granted', grant: { fence: 3n, validityMs: 2000, revision: '3' } }))
  assert.equal(sent[2], ['EVALSHA', pollScript.sha1, '4', '{a}:b', '{a}:b:fence', '{a}:b:queue', '{a}:b:waiters', 't', '2000', '100', 'c', '250', '86400000'])
  ps.publish('4 250 t')
  assert.equal(await queue.awaitHandoff('{a}:b', 't', 0, 2n), O.none, 'a late notification for a waiter that got the key is ignored')
  assert.equal(await queue.leave('{a}:b', 't')(), E.right(undefined))
  assert.equal(sent[3], ['EVALSHA', leaveScript.sha1, '4', '{a}:b', '{a}:b:fence', '{a}:b:queue', '{a}:b:waiters', 't', '86400000'])
  assert.ok(E.isLeft(await queue.leave('{a}:b', 't')()), 'a failed leave is reported')
})

Queue('the queue entry carries this store\'s claim TTL; a claimMs that is not a positive integer falls back to 1000', async () => {
  for (const [claimMs, expected] of [[400, '400'], [0, '1000'], [1.5, '1000'], [undefined, '1000']] as const) {
    const { driver, sent } = scripted([E.right(null), E.right([0, '1'])])
    const ps = pubsub()
    await redisStore({ ...driver, subscribe: ps.subscribe }, claimMs === undefined ? { channel: 'c' } : { claimMs, channel: 'c' }).queue!.acquireOrEnqueue('k', 't', 10, 10)()
    assert.equal(sent[1], ['EVALSHA', acquireOrEnqueueScript.sha1, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 't', '10', '10', 'c', expected, '86400000'])
  }
})

Queue('release sends only the token: the claim TTL comes from the waiter\'s entry; an error reply to it is indeterminate (it may have written before failing)', async () => {
  const { driver, sent } = scripted([E.right(new Error('OOM command not allowed when used memory > \'maxmemory\'.'))])
  const released = await redisStore(driver).release({ key: 'k', token: 't', revision: '1' })()
  assert.equal(sent[0], ['EVALSHA', releaseScript.sha1, '4', 'k', '{k}:fence', '{k}:queue', '{k}:waiters', 't', '86400000'])
  assert.ok(E.isLeft(released) && released.left._tag === 'DriverFailure' && released.left.indeterminate)
})

Keys.run()
Decoders.run()
Scripts.run()
Store.run()
Queue.run()
