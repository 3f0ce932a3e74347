import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { ConfigParams } from '../src/config/ConfigParams.js'
import {
  Count,
  Flag,
  Milliseconds,
  NonEmptyString,
  Port,
  PositiveMilliseconds,
  StringLike,
  decodeAt,
  integer
} from '../src/config/codecs.js'
import { decodeGenericOptions, genericOptionSpecs, option, optionsDecoder } from '../src/config/options.js'
import {
  decodeConnections,
  decodeCredentials,
  decodeResolvedConnection,
  decodeResolvedCredential,
  decodeSettings,
  describeConnection
} from '../src/config/settings.js'

const C = suite('config codecs')

C('integer codecs accept numbers and numeric strings in range', () => {
  assert.equal(Port.decode(6379), E.right(6379))
  assert.equal(Port.decode('6379'), E.right(6379))
  assert.equal(Port.decode(' 6379 '), E.right(6379))
  assert.equal(Port.decode('+1'), E.right(1))
  assert.equal(Port.decode(65535), E.right(65535))
  assert.equal(Count.decode('0'), E.right(0))
  assert.equal(Milliseconds.decode(2147483647), E.right(2147483647))
  assert.equal(integer(-5, 5).decode('-5'), E.right(-5))
})

C('integer codecs refuse everything else', () => {
  for (const bad of ['abc', '', ' ', '6379.5', '1e3', '0x10', 0, 65536, -1, 1.5, NaN, Infinity, true, null, undefined, {}, [80]])
    assert.ok(E.isLeft(Port.decode(bad)), `Port accepted ${String(bad)}`)
  assert.ok(E.isLeft(Milliseconds.decode(2147483648)))
  assert.ok(E.isLeft(PositiveMilliseconds.decode('0')))
  assert.ok(E.isLeft(Count.decode(-1)))
  assert.ok(E.isLeft(Count.decode('9007199254740993')))
})

C('codec names read as expectations', () => {
  assert.is(Port.name, 'an integer in 1..65535')
  assert.is(Count.name, 'a non-negative integer')
  assert.is(Milliseconds.name, 'a whole number of milliseconds in 0..2147483647')
  assert.is(PositiveMilliseconds.name, 'a whole number of milliseconds in 1..2147483647')
})

C('Flag accepts booleans, 0/1 and the Pip.Services boolean words', () => {
  for (const yes of [true, 1, 'true', 'TRUE', ' yes ', 'y', 't', '1']) assert.equal(Flag.decode(yes), E.right(true))
  for (const no of [false, 0, 'false', 'No', 'n', 'f', '0']) assert.equal(Flag.decode(no), E.right(false))
  for (const bad of ['maybe', '', 2, null, {}]) assert.ok(E.isLeft(Flag.decode(bad)), `Flag accepted ${String(bad)}`)
})

C('NonEmptyString and StringLike', () => {
  assert.equal(NonEmptyString.decode('h'), E.right('h'))
  for (const bad of ['', '  ', 1, null]) assert.ok(E.isLeft(NonEmptyString.decode(bad)))
  assert.equal(StringLike.decode(''), E.right(''))
  assert.equal(StringLike.decode(1234), E.right('1234'))
  assert.equal(StringLike.decode(12n), E.right('12'))
  for (const bad of [NaN, true, null, {}]) assert.ok(E.isLeft(StringLike.decode(bad)))
})

C('decodeAt names the key, the expectation and the value; a secret only by type', () => {
  assert.equal(
    decodeAt('connection.port', Port)('abc'),
    E.left('connection.port: expected an integer in 1..65535, got "abc"')
  )
  assert.equal(decodeAt('options.reconnect', Flag)(2), E.left('options.reconnect: expected a boolean ("true" or "false"), got 2'))
  assert.equal(decodeAt('credential.password', StringLike, true)(true), E.left('credential.password: expected a string, got a value of type boolean'))
})

C.run()

const D = suite('decodeConnections')
const fromTuples = ConfigParams.fromTuples

D('connection.* with a port as a string', () => {
  assert.equal(
    decodeConnections(fromTuples('connection.host', 'localhost', 'connection.port', '6379')),
    E.right([{ host: 'localhost', port: 6379 }])
  )
})

D('the docs example: bare host and port', () => {
  assert.equal(decodeConnections(fromTuples('host', 'localhost', 'port', 6379)), E.right([{ host: 'localhost', port: 6379 }]))
})

D('bare keys join connection.* as one connection', () => {
  assert.equal(
    decodeConnections(fromTuples('host', 'localhost', 'connection.port', 6380)),
    E.right([{ host: 'localhost', port: 6380 }])
  )
})

D('every connection key: ip for host, uri, protocol, discovery_key', () => {
  assert.equal(
    decodeConnections(
      fromTuples('connection.ip', '10.0.0.1', 'connection.protocol', 'redis', 'connection.discovery_key', 'locks', 'connection.uri', 'redis://u:p@h:1/2')
    ),
    E.right([{ host: '10.0.0.1', uri: 'redis://u:p@h:1/2', protocol: 'redis', discoveryKey: 'locks' }])
  )
})

D('connections.<name>.* in name order, after connection.*', () => {
  assert.equal(
    decodeConnections(
      fromTuples(
        'connections.b.host', 'b', 'connections.b.port', '2',
        'connections.a.host', 'a',
        'connection.uri', 'memcached://first:11211'
      )
    ),
    E.right([{ uri: 'memcached://first:11211' }, { host: 'a' }, { host: 'b', port: 2 }])
  )
})

D('a nested object and a flat map decode alike', () => {
  const nested = ConfigParams.fromValue({ connections: { s1: { host: 'x', port: 11211 }, s2: { host: 'y', port: '11212' } } })
  assert.ok(E.isRight(nested))
  assert.equal(decodeConnections(nested.right), E.right([{ host: 'x', port: 11211 }, { host: 'y', port: 11212 }]))
})

D('no connection at all, and sections that name no server (their values are still checked)', () => {
  assert.equal(decodeConnections({}), E.right([]))
  assert.equal(decodeConnections(fromTuples('connection.protocol', 'redis', 'options.retries', 3)), E.right([]))
  assert.equal(
    decodeConnections(fromTuples('connection.protocol', '')),
    E.left(['connection.protocol: expected a non-empty string, got ""'])
  )
})

D('unknown keys in a connection are accepted', () => {
  assert.equal(decodeConnections(fromTuples('connection.host', 'h', 'connection.database', 2)), E.right([{ host: 'h' }]))
})

D('host and ip agreeing is fine; disagreeing is an error naming both keys', () => {
  assert.equal(decodeConnections(fromTuples('connection.host', 'h', 'connection.ip', 'h')), E.right([{ host: 'h' }]))
  assert.equal(
    decodeConnections(fromTuples('connection.host', 'h', 'connection.ip', 'i')),
    E.left(['connection.host and connection.ip: give one of them, not two different values'])
  )
})

D('a key given bare and under connection. is an error', () => {
  assert.equal(
    decodeConnections(fromTuples('port', 1, 'connection.port', 2)),
    E.left(['port and connection.port: give one of them, not both'])
  )
})

D('every bad connection value, each error naming key and value', () => {
  assert.equal(
    decodeConnections(
      fromTuples(
        'connection.host', '',
        'connection.port', 'abc',
        'connections.a.port', 0,
        'connections.b.port', '70000',
        'connections.c.port', 1.5,
        'connections.d.uri', '',
        'connections.e.protocol', 7,
        'connections.f.discovery_key', ' ',
        'connections.g.ip', true,
        'port', -1
      )
    ),
    E.left([
      'port and connection.port: give one of them, not both',
      'connection.host: expected a non-empty string, got ""',
      'connection.port: expected an integer in 1..65535, got "abc"',
      'connections.a.port: expected an integer in 1..65535, got 0',
      'connections.b.port: expected an integer in 1..65535, got "70000"',
      'connections.c.port: expected an integer in 1..65535, got 1.5',
      'connections.d.uri: expected a non-empty string, got ""',
      'connections.e.protocol: expected a non-empty string, got 7',
      'connections.f.discovery_key: expected a non-empty string, got " "',
      'connections.g.ip: expected a non-empty string, got true'
    ])
  )
})

D.run()

const R = suite('decodeCredentials')

R('credential.* with username and password', () => {
  assert.equal(
    decodeCredentials(fromTuples('credential.username', 'app', 'credential.password', 'pw')),
    E.right([{ username: 'app', password: 'pw' }])
  )
})

R('aliases user and pass; a numeric password becomes a string', () => {
  assert.equal(decodeCredentials(fromTuples('credential.user', 'app', 'credential.pass', 1234)), E.right([{ username: 'app', password: '1234' }]))
})

R('credentials.<name>.* in name order, after credential.*; store_key', () => {
  assert.equal(
    decodeCredentials(
      fromTuples('credentials.z.store_key', 'vault', 'credentials.a.username', 'a', 'credential.password', 'first')
    ),
    E.right([{ password: 'first' }, { username: 'a' }, { storeKey: 'vault' }])
  )
})

R('no credential; sections without credential keys are not credentials', () => {
  assert.equal(decodeCredentials({}), E.right([]))
  assert.equal(decodeCredentials(fromTuples('credential.access_id', 'x')), E.right([]))
})

R('every bad credential value; the password itself is never shown', () => {
  assert.equal(
    decodeCredentials(
      fromTuples('credential.username', true, 'credential.password', false, 'credentials.x.store_key', '', 'credentials.y.pass', {})
    ),
    E.left([
      'credential.username: expected a string, got true',
      'credential.password: expected a string, got a value of type boolean',
      'credentials.x.store_key: expected a non-empty string, got ""',
      'credentials.y.pass: expected a string, got a value of type object'
    ])
  )
  const conflicting = decodeCredentials(fromTuples('credential.password', 'secret-one', 'credential.pass', 'secret-two'))
  assert.ok(E.isLeft(conflicting))
  assert.equal(conflicting.left, ['credential.password and credential.pass: give one of them, not two different values'])
  assert.not.match(conflicting.left.join(), /secret/)
})

R.run()

const P = suite('options')

P('defaults: retry_timeout 100, retries 3, connect_timeout 5000, command_timeout 3000', () => {
  assert.equal(decodeGenericOptions({}), E.right({ retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 }))
})

P('values as numbers or strings; unknown option keys accepted', () => {
  assert.equal(
    decodeGenericOptions(
      fromTuples('options.retry_timeout', '250', 'options.retries', 0, 'options.connect_timeout', '1500', 'options.command_timeout', 800, 'options.max_size', 'whatever')
    ),
    E.right({ retryTimeoutMs: 250, retries: 0, connectTimeoutMs: 1500, commandTimeoutMs: 800 })
  )
})

P('every bad generic option value is reported', () => {
  assert.equal(
    decodeGenericOptions(
      fromTuples('options.retry_timeout', 'abc', 'options.retries', -1, 'options.connect_timeout', 0, 'options.command_timeout', '2.5')
    ),
    E.left([
      'options.retry_timeout: expected a whole number of milliseconds in 0..2147483647, got "abc"',
      'options.retries: expected a non-negative integer, got -1',
      'options.connect_timeout: expected a whole number of milliseconds in 1..2147483647, got 0',
      'options.command_timeout: expected a whole number of milliseconds in 1..2147483647, got "2.5"'
    ])
  )
})

P('a backend adds its own options next to the generic ones', () => {
  const decode = optionsDecoder({
    ...genericOptionSpecs,
    maxKeySize: option('max_key_size', integer(1, 250), 250),
    reconnect: option('reconnect', Flag, false)
  })
  assert.equal(
    decode(fromTuples('options.max_key_size', '100', 'options.reconnect', 'true')),
    E.right({ retryTimeoutMs: 100, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000, maxKeySize: 100, reconnect: true })
  )
  assert.equal(decode(fromTuples('options.max_key_size', 251)), E.left(['options.max_key_size: expected an integer in 1..250, got 251']))
})

P.run()

const W = suite('decodeSettings')

W('decodes connections, credentials and options of any config form together', () => {
  const settings = decodeSettings(decodeGenericOptions)({
    connection: { host: 'localhost', port: '6379' },
    credential: { username: 'app', password: 'pw' },
    options: { retry_timeout: '50' }
  })
  assert.equal(
    settings,
    E.right({
      connections: [{ host: 'localhost', port: 6379 }],
      credentials: [{ username: 'app', password: 'pw' }],
      options: { retryTimeoutMs: 50, retries: 3, connectTimeoutMs: 5000, commandTimeoutMs: 3000 }
    })
  )
})

W('reports every problem at once in one ConfigError', () => {
  const settings = decodeSettings(decodeGenericOptions)(
    fromTuples('connection.port', 'abc', 'credential.username', false, 'options.retries', 'many')
  )
  assert.equal(
    settings,
    E.left({
      _tag: 'ConfigError',
      errors: [
        'connection.port: expected an integer in 1..65535, got "abc"',
        'credential.username: expected a string, got false',
        'options.retries: expected a non-negative integer, got "many"'
      ]
    })
  )
})

W('a malformed configuration is a ConfigError too', () => {
  assert.equal(
    decodeSettings(decodeGenericOptions)('redis://localhost'),
    E.left({ _tag: 'ConfigError', errors: ['configuration must be an object, got "redis://localhost"'] })
  )
})

W('describeConnection names a connection without its credentials', () => {
  assert.is(describeConnection({ uri: 'redis://user:secret@cache:6380/2' }), 'redis://cache:6380')
  assert.is(describeConnection({ uri: 'rediss://:pw@[::1]:6390' }), 'rediss://[::1]:6390')
  assert.is(describeConnection({ uri: 'not a uri with secret' }), 'the configured uri')
  assert.is(describeConnection({ host: 'h', port: 1 }), 'h:1')
  assert.is(describeConnection({ host: 'h' }), 'h')
  assert.is(describeConnection({ port: 11211 }), ':11211')
  assert.is(describeConnection({ discoveryKey: 'locks' }), 'discovery_key "locks"')
  assert.is(describeConnection({}), 'no server')
})

W.run()

const V = suite('decodeResolved')

V('a resolved connection uses the configuration keys and rules', () => {
  const what = 'discovery_key "locks"'
  assert.equal(decodeResolvedConnection(what)({ host: 'cache', port: '6380' }), E.right({ host: 'cache', port: 6380 }))
  assert.equal(decodeResolvedConnection(what)({ ip: '10.0.0.2', uri: 'redis://x' }), E.right({ host: '10.0.0.2', uri: 'redis://x' }))
  assert.equal(
    decodeResolvedConnection(what)({ host: 'cache', port: 'x' }),
    E.left(['port (resolved for discovery_key "locks"): expected an integer in 1..65535, got "x"'])
  )
  assert.equal(decodeResolvedConnection(what)({ protocol: 'redis' }), E.left([`${what} resolved to a connection without host, port or uri`]))
  assert.equal(decodeResolvedConnection(what)('redis://x'), E.left([`${what} resolved to "redis://x", not a connection or credential object`]))
  assert.equal(
    decodeResolvedConnection(what)({ discovery_key: 'other' }),
    E.left([`${what} resolved to another discovery_key ("other"); one level is allowed`])
  )
})

V('a resolved credential uses the configuration keys and rules', () => {
  const what = 'store_key "locks"'
  assert.equal(decodeResolvedCredential(what)({ user: 'app', pass: 'pw' }), E.right({ username: 'app', password: 'pw' }))
  assert.equal(decodeResolvedCredential(what)({ access_id: 'x' }), E.left([`${what} resolved to a credential without username or password`]))
  assert.equal(
    decodeResolvedCredential(what)({ store_key: 'again' }),
    E.left([`${what} resolved to another store_key ("again"); one level is allowed`])
  )
  assert.equal(
    decodeResolvedCredential(what)({ password: false }),
    E.left(['password (resolved for store_key "locks"): expected a string, got a value of type boolean'])
  )
})

V.run()
