import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import { ConfigParams, getSection, sectionNames } from '../src/config/ConfigParams.js'

const S = suite('ConfigParams')

const errorsOf = (r: E.Either<unknown, unknown>): ReadonlyArray<string> => {
  if (E.isRight(r) || typeof r.left !== 'object' || r.left === null || !('errors' in r.left)) {
    throw new Error(`expected a ConfigError, got ${JSON.stringify(r)}`)
  }
  return r.left.errors as ReadonlyArray<string>
}

S('fromTuples pairs keys with values, keys as strings', () => {
  assert.equal(ConfigParams.fromTuples('connection.host', 'localhost', 'connection.port', 6379), {
    'connection.host': 'localhost',
    'connection.port': 6379
  })
  assert.equal(ConfigParams.fromTuples(1, 'a'), { '1': 'a' })
  assert.equal(ConfigParams.fromTuples(), {})
})

S('fromTuples: a trailing key without a value is absent after fromValue', () => {
  const params = ConfigParams.fromTuples('host', 'h', 'port')
  assert.equal(Object.keys(params), ['host', 'port'])
  assert.equal(ConfigParams.fromValue(params), E.right({ host: 'h' }))
})

S('fromValue keeps a flat dotted map as it is', () => {
  const flat = { 'connection.host': 'localhost', 'connection.port': '6379', 'options.retries': 5 }
  assert.equal(ConfigParams.fromValue(flat), E.right(flat))
})

S('fromValue flattens a nested object into dotted keys', () => {
  assert.equal(
    ConfigParams.fromValue({
      connection: { host: 'localhost', port: 6379 },
      connections: { b: { host: 'b' }, a: { uri: 'redis://a' } },
      options: { retry_timeout: '100', reconnect: true }
    }),
    E.right({
      'connection.host': 'localhost',
      'connection.port': 6379,
      'connections.b.host': 'b',
      'connections.a.uri': 'redis://a',
      'options.retry_timeout': '100',
      'options.reconnect': true
    })
  )
})

S('fromValue accepts a mix of nested and dotted keys, and arrays by index', () => {
  assert.equal(
    ConfigParams.fromValue({ 'connection.host': 'h', connection: { port: 1 }, connections: [{ host: 'x' }, { host: 'y' }] }),
    E.right({ 'connection.host': 'h', 'connection.port': 1, 'connections.0.host': 'x', 'connections.1.host': 'y' })
  )
})

S('fromValue accepts a ConfigParams, and a Pip.Services-style class instance by its own properties', () => {
  const params = ConfigParams.fromTuples('host', 'localhost', 'port', 6379)
  assert.equal(ConfigParams.fromValue(params), E.right({ host: 'localhost', port: 6379 }))
  class StringValueMap {
    [key: string]: unknown
    constructor(values: Record<string, string>) {
      Object.assign(this, values)
    }
    getAsString(key: string): string {
      return String(this[key])
    }
  }
  assert.equal(
    ConfigParams.fromValue(new StringValueMap({ 'connection.host': 'h', 'connection.port': '11211' })),
    E.right({ 'connection.host': 'h', 'connection.port': '11211' })
  )
})

S('fromValue drops null and undefined values', () => {
  assert.equal(ConfigParams.fromValue({ host: null, port: undefined, connection: { uri: null } }), E.right({}))
})

S('fromValue keeps bigints and booleans as values', () => {
  assert.equal(ConfigParams.fromValue({ options: { a: 1n, b: false } }), E.right({ 'options.a': 1n, 'options.b': false }))
})

S('fromValue: a key given both nested and dotted is an error naming the key', () => {
  assert.equal(errorsOf(ConfigParams.fromValue({ 'connection.host': 'a', connection: { host: 'b' } })), [
    'connection.host: given more than once'
  ])
})

S('fromValue: a value that is not a scalar is an error naming the key and the kind', () => {
  assert.equal(
    errorsOf(ConfigParams.fromValue({ connection: { host: new Date(0), port: () => 1 }, options: { x: Symbol('s') } })),
    [
      'connection.host: expected a string, number or boolean, got [object Date]',
      'connection.port: expected a string, number or boolean, got a function',
      'options.x: expected a string, number or boolean, got a symbol'
    ]
  )
})

S('fromValue: configuration that is not an object is an error', () => {
  assert.equal(errorsOf(ConfigParams.fromValue('host=localhost')), [
    'configuration must be an object, got "host=localhost"'
  ])
  assert.equal(errorsOf(ConfigParams.fromValue(null)), ['configuration must be an object, got null'])
  assert.equal(errorsOf(ConfigParams.fromValue([1])), ['configuration must be an object, got an array'])
  assert.equal(errorsOf(ConfigParams.fromValue(undefined)), ['configuration must be an object, got undefined'])
})

S('getSection strips the prefix and ignores look-alike keys', () => {
  const params = ConfigParams.fromTuples('options.retries', 5, 'optionsx.y', 1, 'options', 2, 'connection.host', 'h')
  assert.equal(getSection('options')(params), { retries: 5 })
  assert.equal(getSection('credential')(params), {})
})

S('sectionNames lists each name once: digit names first by value, then the others by code unit', () => {
  const params = ConfigParams.fromTuples(
    'connections.10.host', 'a',
    'connections.2.host', 'b',
    'connections.2.port', 1,
    'connections.b.host', 'c',
    'connections.A.host', 'd',
    'connections.1a.host', 'e',
    'connections.9.host', 'f',
    'connections.plain', 'not a section'
  )
  assert.equal(sectionNames('connections')(params), ['2', '9', '10', '1a', 'A', 'b'])
})

S.run()
