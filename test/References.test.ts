import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as E from 'fp-ts/lib/Either.js'
import {
  CredentialResolver,
  DiscoveryResolver,
  fromPipReferences,
  resolveConnections,
  resolveCredential,
  toLockReferences
} from '../src/config/references.js'

/** A stand-in for Pip.Services' ConnectionParams / CredentialParams: values as own string properties. */
class StringValueMap {
  [key: string]: unknown
  constructor(values: Record<string, string>) {
    Object.assign(this, values)
  }
}

/** Shaped like Pip.Services' MemoryDiscovery (IDiscovery). */
class PipDiscovery {
  readonly calls: Array<[unknown, string]> = []
  constructor(private readonly items: Record<string, ReadonlyArray<Record<string, string>>>) {}
  async register(): Promise<void> {}
  async resolveOne(context: unknown, key: string): Promise<StringValueMap | undefined> {
    return (await this.resolveAll(context, key))[0]
  }
  async resolveAll(context: unknown, key: string): Promise<ReadonlyArray<StringValueMap>> {
    this.calls.push([context, key])
    return (this.items[key] ?? []).map((v) => new StringValueMap(v))
  }
}

/** Shaped like Pip.Services' MemoryCredentialStore (ICredentialStore). */
class PipCredentialStore {
  constructor(private readonly items: Record<string, Record<string, string>>) {}
  async store(): Promise<void> {}
  async lookup(_context: unknown, key: string): Promise<StringValueMap | null> {
    const found = this.items[key]
    return found === undefined ? null : new StringValueMap(found)
  }
}

const configErrors = (r: E.Either<unknown, unknown>): ReadonlyArray<string> => {
  if (E.isRight(r)) throw new Error(`expected a ConfigError, got ${JSON.stringify(r.right)}`)
  const e = r.left as { _tag: string; errors: ReadonlyArray<string> }
  assert.is(e._tag, 'ConfigError')
  return e.errors
}

const T = suite('references: shapes')

T('toLockReferences accepts resolver functions and an empty object', () => {
  const discovery: DiscoveryResolver = async () => undefined
  const credentials: CredentialResolver = async () => undefined
  const refs = toLockReferences({ discovery, credentials })
  assert.ok(E.isRight(refs))
  assert.is(refs.right.discovery, discovery)
  assert.is(refs.right.credentials, credentials)
  assert.equal(toLockReferences({}), E.right({}))
})

T('toLockReferences refuses what is not references, naming the field', () => {
  assert.equal(configErrors(toLockReferences({ discovery: 'redis', credentials: 1 })), [
    'references.discovery: expected a function, got "redis"',
    'references.credentials: expected a function, got 1'
  ])
  assert.equal(configErrors(toLockReferences(null)), ['references must be an object, got null'])
  assert.equal(configErrors(toLockReferences('refs')), ['references must be an object, got "refs"'])
})

T('a Pip.Services references object: discovery and credential store found by their methods', async () => {
  const discovery = new PipDiscovery({ locks: [{ host: 'cache', port: '6380' }] })
  const store = new PipCredentialStore({ locks: { username: 'app', password: 'pw' } })
  const unrelated = { lookup: () => 'a component with lookup but no store' }
  const refs = toLockReferences({ getAll: () => [unrelated, discovery, store] })
  assert.ok(E.isRight(refs))
  const { discovery: resolveDiscovery, credentials } = refs.right
  assert.ok(resolveDiscovery !== undefined && credentials !== undefined)
  assert.equal(
    await resolveConnections(refs.right, '123')([{ discoveryKey: 'locks' }]),
    E.right([{ host: 'cache', port: 6380 }])
  )
  assert.equal(discovery.calls, [['123', 'locks']])
  assert.equal(await resolveCredential(refs.right, '123')([{ storeKey: 'locks' }]), E.right({ username: 'app', password: 'pw' }))
})

T('a Pip.Services references object without those services gives no resolvers', () => {
  assert.equal(fromPipReferences({ getAll: () => [{ resolveAll: () => [] }, 42, null] }), {})
})

T.run()

const C = suite('references: resolveConnections')

C('connections without a discovery key pass through, without a resolver', async () => {
  assert.equal(
    await resolveConnections({}, undefined)([{ host: 'a', port: 1 }, { uri: 'redis://b' }]),
    E.right([{ host: 'a', port: 1 }, { uri: 'redis://b' }])
  )
})

C('a discovery key is resolved with the trace id; one result or many, in place, other settings kept', async () => {
  const calls: Array<[string, string | undefined]> = []
  const discovery: DiscoveryResolver = async (key, traceId) => {
    calls.push([key, traceId])
    return key === 'one' ? { host: 'h1', port: 1 } : [{ host: 'h2' }, { host: 'h3', protocol: 'tcp' }]
  }
  const resolved = await resolveConnections({ discovery }, 'trace-1')([
    { host: 'first' },
    { discoveryKey: 'one', protocol: 'redis' },
    { discoveryKey: 'many', protocol: 'memcached', port: 11211 }
  ])
  assert.equal(
    resolved,
    E.right([
      { host: 'first' },
      { protocol: 'redis', host: 'h1', port: 1 },
      { protocol: 'memcached', port: 11211, host: 'h2' },
      { protocol: 'tcp', port: 11211, host: 'h3' }
    ])
  )
  assert.equal(calls.sort(), [['many', 'trace-1'], ['one', 'trace-1']])
})

C('a discovery key without a discovery service is a clear error', async () => {
  assert.equal(configErrors(await resolveConnections({}, undefined)([{ discoveryKey: 'locks' }])), [
    'discovery_key "locks": no discovery service is referenced (pass one to setReferences)'
  ])
})

C('an unknown discovery key (undefined, null or no connections) is a clear error', async () => {
  for (const answer of [undefined, null, []]) {
    const discovery = (async () => answer) as DiscoveryResolver
    assert.equal(configErrors(await resolveConnections({ discovery }, undefined)([{ discoveryKey: 'nope' }])), [
      'discovery_key "nope": the discovery service does not know this key'
    ])
  }
})

C('a failing or throwing discovery service is an error with its message', async () => {
  const rejecting: DiscoveryResolver = async () => {
    throw new Error('registry unreachable')
  }
  const throwing: DiscoveryResolver = () => {
    throw new Error('sync boom')
  }
  assert.equal(configErrors(await resolveConnections({ discovery: rejecting }, undefined)([{ discoveryKey: 'k' }])), [
    'discovery_key "k": lookup failed: registry unreachable'
  ])
  assert.equal(configErrors(await resolveConnections({ discovery: throwing }, undefined)([{ discoveryKey: 'k' }])), [
    'discovery_key "k": lookup failed: sync boom'
  ])
})

C('a malformed discovery answer is an error naming the key and the value', async () => {
  const discovery = (async () => ({ host: 'h', port: 'http' })) as unknown as DiscoveryResolver
  assert.equal(configErrors(await resolveConnections({ discovery }, undefined)([{ discoveryKey: 'k' }])), [
    'port (resolved for discovery_key "k"): expected an integer in 1..65535, got "http"'
  ])
})

C.run()

const K = suite('references: resolveCredential')

K('no credential configured: none', async () => {
  assert.equal(await resolveCredential({}, undefined)([]), E.right(undefined))
})

K('a literal credential is used as configured, without a store', async () => {
  assert.equal(await resolveCredential({}, undefined)([{ username: 'u', password: 'p' }]), E.right({ username: 'u', password: 'p' }))
})

K('a store key is resolved with the trace id; configured fields stay unless the store overrides them', async () => {
  const calls: Array<[string, string | undefined]> = []
  const credentials: CredentialResolver = async (key, traceId) => {
    calls.push([key, traceId])
    return { password: 'from-store' }
  }
  assert.equal(
    await resolveCredential({ credentials }, 't')([{ storeKey: 'locks', username: 'app' }]),
    E.right({ username: 'app', password: 'from-store' })
  )
  assert.equal(calls, [['locks', 't']])
})

K('a store key without a credential store is a clear error', async () => {
  assert.equal(configErrors(await resolveCredential({}, undefined)([{ storeKey: 'locks' }])), [
    'store_key "locks": no credential store is referenced (pass one to setReferences)'
  ])
})

K('an unresolved store key is a clear error', async () => {
  const credentials: CredentialResolver = async () => undefined
  assert.equal(configErrors(await resolveCredential({ credentials }, undefined)([{ storeKey: 'nope' }])), [
    'store_key "nope": the credential store does not know this key'
  ])
})

K('the first credential that resolves wins, as in Pip.Services', async () => {
  const credentials: CredentialResolver = async (key) => (key === 'b' ? { username: 'b' } : undefined)
  assert.equal(
    await resolveCredential({ credentials }, undefined)([{ storeKey: 'a' }, { storeKey: 'b' }, { username: 'literal' }]),
    E.right({ username: 'b' })
  )
  assert.equal(
    await resolveCredential({ credentials }, undefined)([{ storeKey: 'a' }, { username: 'literal' }]),
    E.right({ username: 'literal' })
  )
})

K('a malformed credential from the store is an error naming the key', async () => {
  const typed = (answer: unknown) => (async () => answer) as unknown as CredentialResolver
  assert.equal(configErrors(await resolveCredential({ credentials: typed({ username: 7.5, password: false }) }, undefined)([{ storeKey: 'k' }])), [
    'password (resolved for store_key "k"): expected a string, got a value of type boolean'
  ])
  assert.equal(configErrors(await resolveCredential({ credentials: typed({ username: new Date(0) }) }, undefined)([{ storeKey: 'k' }])), [
    'username: expected a string, number or boolean, got [object Date] (resolved for store_key "k")'
  ])
  assert.equal(configErrors(await resolveCredential({ credentials: typed('user:pw') }, undefined)([{ storeKey: 'k' }])), [
    'store_key "k" resolved to "user:pw", not a connection or credential object'
  ])
})

K('a failing credential store is an error with its message', async () => {
  const credentials: CredentialResolver = async () => {
    throw new Error('vault sealed')
  }
  assert.equal(configErrors(await resolveCredential({ credentials }, undefined)([{ storeKey: 'k' }])), [
    'store_key "k": lookup failed: vault sealed'
  ])
})

K.run()
