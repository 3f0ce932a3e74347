/**
 * The services a lock component may depend on, as plain functions: a discovery
 * service that turns a `discovery_key` into connections, and a credential
 * store that turns a `store_key` into a credential. A Pip.Services references
 * object (`IReferences` holding an `IDiscovery` and an `ICredentialStore`) is
 * read into the same shape.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { LockError, configError } from '../LockError.js'
import { ConnectionSettings, CredentialSettings, decodeResolvedConnection, decodeResolvedCredential } from './settings.js'
import { showValue } from './showValue.js'

/**
 * Resolves a `discovery_key` to one or more connections, or `undefined` when
 * the key is unknown. Called once per configured `discovery_key` when the
 * component opens, with the caller's trace id. It may reject; the rejection
 * becomes a configuration error of `open`.
 *
 * @example
 * import { DiscoveryResolver } from 'leaselock'
 * const discovery: DiscoveryResolver = async (key) => (key === 'locks' ? { host: 'redis.internal', port: 6379 } : undefined)
 *
 * @since 0.1.0
 */
export type DiscoveryResolver = (
  discoveryKey: string,
  traceId: string | undefined
) => Promise<ConnectionSettings | ReadonlyArray<ConnectionSettings> | undefined>

/**
 * Resolves a `store_key` to a credential, or `undefined` when the key is
 * unknown. Called when the component opens, with the caller's trace id.
 *
 * @example
 * import { CredentialResolver } from 'leaselock'
 * const credentials: CredentialResolver = async (key) =>
 *   key === 'locks' ? { username: 'locks', password: process.env.LOCKS_PASSWORD } : undefined
 *
 * @since 0.1.0
 */
export type CredentialResolver = (storeKey: string, traceId: string | undefined) => Promise<CredentialSettings | undefined>

/**
 * What `setReferences` takes.
 *
 * @example
 * import { LockReferences } from 'leaselock'
 * const refs: LockReferences = { discovery: async () => ({ host: 'localhost', port: 6379 }) }
 *
 * @since 0.1.0
 */
export interface LockReferences {
  readonly discovery?: DiscoveryResolver
  readonly credentials?: CredentialResolver
}

/**
 * The part of a Pip.Services `IReferences` read here: `getAll()`. Among the
 * components, the first with `register`/`resolveOne`/`resolveAll` serves as
 * discovery (`*:discovery:*:*:1.0`) and the first with `store`/`lookup` as
 * credential store (`*:credential-store:*:*:1.0`).
 *
 * @example
 * import { PipReferences } from 'leaselock'
 * const refs: PipReferences = { getAll: () => [] }
 *
 * @since 0.1.0
 */
export interface PipReferences {
  readonly getAll: () => ReadonlyArray<unknown>
}

type Method = (...args: ReadonlyArray<unknown>) => unknown

const method = (component: unknown, name: string): Method | undefined => {
  if (typeof component !== 'object' || component === null) return undefined
  const m: unknown = (component as Record<string, unknown>)[name]
  return typeof m === 'function' ? (m as Method).bind(component) : undefined
}

const hasAll = (component: unknown, names: ReadonlyArray<string>): boolean =>
  names.every((n) => method(component, n) !== undefined)

/**
 * Reads a Pip.Services references object into {@link LockReferences}.
 * Discovery results (`ConnectionParams`) and credential store results
 * (`CredentialParams`) are read as configuration sections when the component opens.
 *
 * @example
 * import { fromPipReferences } from 'leaselock'
 * const discovery = { register: async () => {}, resolveOne: async () => ({ host: 'h' }), resolveAll: async () => [{ host: 'h' }] }
 * const refs = fromPipReferences({ getAll: () => [discovery] })
 * assert.ok(refs.discovery !== undefined && refs.credentials === undefined)
 *
 * @since 0.1.0
 */
export const fromPipReferences = (references: PipReferences): LockReferences => {
  const all = references.getAll()
  const discovery = all.find((c) => hasAll(c, ['register', 'resolveOne', 'resolveAll']))
  const store = all.find((c) => hasAll(c, ['store', 'lookup']))
  const resolveAll = method(discovery, 'resolveAll')
  const lookup = method(store, 'lookup')
  return {
    ...(resolveAll === undefined
      ? {}
      : { discovery: async (key, traceId) => (await resolveAll(traceId, key)) as ReadonlyArray<ConnectionSettings> }),
    ...(lookup === undefined ? {} : { credentials: async (key, traceId) => (await lookup(traceId, key)) as CredentialSettings })
  } satisfies LockReferences
}

const isPipReferences = (u: unknown): u is PipReferences => method(u, 'getAll') !== undefined

/**
 * Accepts either shape of references and checks it: resolvers must be
 * functions. A Pip.Services references object is read with {@link fromPipReferences}.
 *
 * @example
 * import { toLockReferences } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * assert.ok(E.isRight(toLockReferences({})))
 * assert.ok(E.isLeft(toLockReferences({ discovery: 'redis' })))
 *
 * @since 0.1.0
 */
export const toLockReferences = (references: unknown): E.Either<LockError, LockReferences> => {
  if (isPipReferences(references)) return E.right(fromPipReferences(references))
  if (typeof references !== 'object' || references === null)
    return E.left(configError([`references must be an object, got ${showValue(references)}`]))
  const { discovery, credentials } = references as Record<string, unknown>
  const errors = [
    ...(discovery === undefined || typeof discovery === 'function'
      ? []
      : [`references.discovery: expected a function, got ${showValue(discovery)}`]),
    ...(credentials === undefined || typeof credentials === 'function'
      ? []
      : [`references.credentials: expected a function, got ${showValue(credentials)}`])
  ]
  return errors.length > 0 ? E.left(configError(errors)) : E.right(references as LockReferences)
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : showValue(cause))

/** Calls a resolver; a throw or rejection becomes a `Left` with `what` in the message. */
const call = async <A>(what: string, f: () => Promise<A>): Promise<E.Either<ReadonlyArray<string>, A>> => {
  try {
    return E.right(await f())
  } catch (cause) {
    return E.left([`${what}: lookup failed: ${describe(cause)}`])
  }
}

const isEmpty = (u: unknown): boolean => u === undefined || u === null || (Array.isArray(u) && u.length === 0)

/**
 * Replaces every connection that has a `discovery_key` by what the discovery
 * service resolves it to (its other settings are kept unless the resolved
 * connection overrides them). A key without a discovery service, a key the
 * service does not know, a failing lookup or a malformed result is a
 * `ConfigError` naming the key.
 *
 * @example
 * import { resolveConnections } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const refs = { discovery: async () => ({ host: 'cache', port: 6380 }) }
 * const resolved = await resolveConnections(refs, '123')([{ discoveryKey: 'locks' }])
 * assert.deepStrictEqual(resolved, E.right([{ host: 'cache', port: 6380 }]))
 *
 * @since 0.1.0
 */
export const resolveConnections =
  (references: LockReferences, traceId: string | undefined) =>
  async (connections: ReadonlyArray<ConnectionSettings>): Promise<E.Either<LockError, ReadonlyArray<ConnectionSettings>>> => {
    const resolved = await Promise.all(
      connections.map(async ({ discoveryKey, ...rest }): Promise<E.Either<ReadonlyArray<string>, ReadonlyArray<ConnectionSettings>>> => {
        if (discoveryKey === undefined) return E.right([rest])
        const what = `discovery_key ${showValue(discoveryKey)}`
        const discovery = references.discovery
        if (discovery === undefined)
          return E.left([`${what}: no discovery service is referenced (pass one to setReferences)`])
        const found = await call(what, () => discovery(discoveryKey, traceId))
        if (E.isLeft(found)) return found
        if (isEmpty(found.right)) return E.left([`${what}: the discovery service does not know this key`])
        const items: ReadonlyArray<unknown> = Array.isArray(found.right) ? found.right : [found.right]
        const decoded = items.map(decodeResolvedConnection(what))
        const errors = decoded.flatMap((d) => (E.isLeft(d) ? d.left : []))
        return errors.length > 0 ? E.left(errors) : E.right(decoded.flatMap((d) => (E.isRight(d) ? [{ ...rest, ...d.right }] : [])))
      })
    )
    const errors = resolved.flatMap((r) => (E.isLeft(r) ? r.left : []))
    return errors.length > 0 ? E.left(configError(errors)) : E.right(resolved.flatMap((r) => (E.isRight(r) ? r.right : [])))
  }

/**
 * Picks the credential to use, as Pip.Services does: the first one in order
 * that has no `store_key` or whose `store_key` the credential store resolves.
 * `undefined` when none is configured. A `store_key` without a credential
 * store, or unresolved while no other credential applies, is a `ConfigError`.
 *
 * @example
 * import { resolveCredential } from 'leaselock'
 * import * as E from 'fp-ts/lib/Either.js'
 * const refs = { credentials: async () => ({ username: 'app', password: 'pw' }) }
 * const credential = await resolveCredential(refs, undefined)([{ storeKey: 'locks' }])
 * assert.deepStrictEqual(credential, E.right({ username: 'app', password: 'pw' }))
 *
 * @since 0.1.0
 */
export const resolveCredential =
  (references: LockReferences, traceId: string | undefined) =>
  async (credentials: ReadonlyArray<CredentialSettings>): Promise<E.Either<LockError, CredentialSettings | undefined>> => {
    const errors: Array<string> = []
    for (const { storeKey, ...rest } of credentials) {
      if (storeKey === undefined) return E.right(rest)
      const what = `store_key ${showValue(storeKey)}`
      const store = references.credentials
      if (store === undefined) {
        errors.push(`${what}: no credential store is referenced (pass one to setReferences)`)
        continue
      }
      const found = await call(what, () => store(storeKey, traceId))
      if (E.isLeft(found)) {
        errors.push(...found.left)
        continue
      }
      if (isEmpty(found.right)) {
        errors.push(`${what}: the credential store does not know this key`)
        continue
      }
      const decoded = decodeResolvedCredential(what)(found.right)
      if (E.isRight(decoded)) return E.right({ ...rest, ...decoded.right })
      errors.push(...decoded.left)
    }
    return errors.length > 0 ? E.left(configError(errors)) : E.right(undefined)
  }
