/**
 * The `context` argument of the Pip.Services-style methods: where the caller's
 * trace (correlation) id comes from.
 *
 * @since 0.1.0
 */

/**
 * A trace id as a string, an object with a `traceId`, a Pip.Services 4
 * `IContext` (read with `get('trace_id')`), or nothing.
 *
 * @example
 * import { Context } from 'leaselock'
 * const contexts: ReadonlyArray<Context> = ['123', { traceId: '123' }, null, undefined]
 *
 * @since 0.1.0
 */
export type Context = string | { readonly traceId?: string } | { readonly get: (key: string) => unknown } | null | undefined

const stringOrUndefined = (u: unknown): string | undefined => (typeof u === 'string' && u !== '' ? u : undefined)

/**
 * The trace id a context carries, if any.
 *
 * @example
 * import { traceIdOf } from 'leaselock'
 * assert.strictEqual(traceIdOf('123'), '123')
 * assert.strictEqual(traceIdOf({ traceId: 'abc' }), 'abc')
 * assert.strictEqual(traceIdOf({ get: (k: string) => (k === 'trace_id' ? 'xyz' : undefined) }), 'xyz')
 * assert.strictEqual(traceIdOf(null), undefined)
 *
 * @since 0.1.0
 */
export const traceIdOf = (context: Context): string | undefined => {
  if (typeof context === 'string') return stringOrUndefined(context)
  if (typeof context !== 'object' || context === null) return undefined
  if ('traceId' in context) return stringOrUndefined(context.traceId)
  if ('get' in context && typeof context.get === 'function') {
    const get = context.get.bind(context)
    return stringOrUndefined(get('trace_id')) ?? stringOrUndefined(get('traceId'))
  }
  return undefined
}
