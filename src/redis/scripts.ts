/**
 * The Lua scripts behind acquire, release and extend, their SHA1 digests, and
 * the `EVALSHA` / `EVAL` argument vectors that run them.
 *
 * Each script runs atomically on the server, so "compare the token, then act"
 * can never interleave with another client's command.
 *
 * @since 0.1.0
 */
import { createHash } from 'node:crypto'

/**
 * A Lua script and the SHA1 digest `EVALSHA` names it by.
 *
 * @example
 * import { Script, script } from 'leaselock/redis'
 * const ping: Script = script("return redis.call('PING')")
 *
 * @since 0.1.0
 */
export interface Script {
  readonly source: string
  readonly sha1: string
}

/**
 * Pairs a Lua source with its SHA1 (lowercase hex, as `SCRIPT LOAD` answers).
 *
 * @example
 * import { script } from 'leaselock/redis'
 * assert.strictEqual(script('return 1').sha1, 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db')
 *
 * @since 0.1.0
 */
export const script = (source: string): Script => ({
  source,
  sha1: createHash('sha1').update(source, 'utf8').digest('hex')
})

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter; `ARGV[1]` token, `ARGV[2]` TTL in ms.
 * Sets the key only if it is free (`SET NX PX`) and, only then, increments the
 * counter and returns its value as a decimal string (exact beyond 2^53, where
 * a Lua number would round). Returns nil when the key is held.
 *
 * @example
 * import { acquireScript } from 'leaselock/redis'
 * assert.match(acquireScript.source, /SET.*NX.*PX/)
 *
 * @since 0.1.0
 */
export const acquireScript: Script = script(
  `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('INCR', KEYS[2])
  return redis.call('GET', KEYS[2])
end
return false`
)

/**
 * `KEYS[1]` lock key; `ARGV[1]` token. Deletes the key only if it holds the token: 1 if deleted, else 0.
 *
 * @example
 * import { releaseScript } from 'leaselock/redis'
 * assert.match(releaseScript.source, /DEL/)
 *
 * @since 0.1.0
 */
export const releaseScript: Script = script(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`
)

/**
 * `KEYS[1]` lock key; `ARGV[1]` token, `ARGV[2]` TTL in ms. Resets the TTL only
 * if the key holds the token: 1 if applied, else 0.
 *
 * @example
 * import { extendScript } from 'leaselock/redis'
 * assert.match(extendScript.source, /PEXPIRE/)
 *
 * @since 0.1.0
 */
export const extendScript: Script = script(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`
)

/**
 * The argument vector that runs a cached script: `EVALSHA sha numkeys keys… args…`.
 *
 * @example
 * import { evalShaCommand, releaseScript } from 'leaselock/redis'
 * assert.deepStrictEqual(evalShaCommand(releaseScript, ['k'], ['tok']), ['EVALSHA', releaseScript.sha1, '1', 'k', 'tok'])
 *
 * @since 0.1.0
 */
export const evalShaCommand = (
  s: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>
): ReadonlyArray<string> => ['EVALSHA', s.sha1, String(keys.length), ...keys, ...args]

/**
 * The argument vector that sends a script's source (after `NOSCRIPT`): `EVAL source numkeys keys… args…`.
 * The server caches the script, so the next `EVALSHA` finds it.
 *
 * @example
 * import { evalCommand, releaseScript } from 'leaselock/redis'
 * assert.deepStrictEqual(evalCommand(releaseScript, ['k'], ['tok']), ['EVAL', releaseScript.source, '1', 'k', 'tok'])
 *
 * @since 0.1.0
 */
export const evalCommand = (
  s: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>
): ReadonlyArray<string> => ['EVAL', s.source, String(keys.length), ...keys, ...args]
