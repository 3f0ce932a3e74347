/**
 * How configuration errors quote the value they reject.
 *
 * @since 0.1.0
 */

/**
 * A short, unambiguous rendering of a configuration value: strings quoted (and
 * cut at 60 characters), other scalars as written, plain objects with their
 * entries (cut at 60 characters), other objects by their kind.
 *
 * @example
 * import { showValue } from 'leaselock'
 * assert.strictEqual(showValue('abc'), '"abc"')
 * assert.strictEqual(showValue(-1), '-1')
 * assert.strictEqual(showValue({ '0': 6380 }), '{ 0: 6380 }')
 *
 * @since 0.1.0
 */
export const showValue = (u: unknown): string => {
  if (typeof u === 'string') return JSON.stringify(u.length > 60 ? `${u.slice(0, 60)}…` : u)
  if (typeof u === 'number' || typeof u === 'boolean' || u == null) return String(u)
  if (typeof u === 'bigint') return `${u}n`
  if (typeof u === 'function') return 'a function'
  if (typeof u === 'symbol') return 'a symbol'
  if (Array.isArray(u)) return 'an array'
  if (Object.getPrototypeOf(u) === Object.prototype) {
    const entries = Object.entries(u as object).map(([k, v]) => `${k}: ${showValue(v)}`).join(', ')
    return entries === '' ? '{}' : `{ ${entries.length > 60 ? `${entries.slice(0, 60)}…` : entries} }`
  }
  return Object.prototype.toString.call(u)
}
