/**
 * The Lua scripts behind acquire, release and extend, the wait queue's
 * scripts (join, poll, leave), their SHA1 digests, and the `EVALSHA` / `EVAL`
 * argument vectors that run them.
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
 * a Lua number would round). Returns nil when the key is held by another token.
 *
 * Idempotent for its token: a client may send it again after a failover or a
 * lost reply (node-redis's Sentinel client does), and when the key already
 * holds the token, the script answers the grant it won — the counter's value,
 * which nothing else increments for this key while the key is ours — and
 * leaves the key as the first run set it (its TTL counts from that run, which
 * came after the request was first sent, so the lease stays within it). A key
 * of another type is held by someone else (`pcall`: no `WRONGTYPE` error).
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
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('GET', KEYS[2]) or redis.call('INCR', KEYS[2]) end
return false`
)

/**
 * Lua helpers of the queue scripts (`KEYS[1]` lock key, `KEYS[2]` its counter,
 * `KEYS[3]` its wait queue). A queue entry is
 * `<deadline ms> <claim ms> <channel bytes> <token bytes> <channel><token><lock key>`:
 * the deadline on the server's clock (`TIME`), the claim TTL the waiter's own
 * client asked for, the channel that wakes the waiter, its token and its key
 * (two keys can share a queue, see `queueKey`).
 */
const luaNow = `local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`
const luaParse = `local function parse(entry)
  local deadline, claim, c, t, rest = string.match(entry, '^(%d+) (%d+) (%d+) (%d+) (.*)$')
  if not deadline then return nil end
  c, t = tonumber(c), tonumber(t)
  return tonumber(deadline), claim, string.sub(rest, 1, c), string.sub(rest, c + 1, c + t), string.sub(rest, c + t + 1)
end
local function counter()
  return redis.call('GET', KEYS[2]) or '0'
end
`
/** `entry(token, wait, channel, claim)` builds a queue entry (needs `now`). */
const luaEntry = `local function entry(token, wait, channel, claim)
  return string.format('%.0f', now() + tonumber(wait)) .. ' ' .. claim .. ' ' .. #channel .. ' ' .. #token .. ' ' .. channel .. token .. KEYS[1]
end
local function keepQueue(wait)
  if redis.call('PTTL', KEYS[3]) < tonumber(wait) then redis.call('PEXPIRE', KEYS[3], wait) end
end
`
/**
 * How a handover is announced: `PUBLISH` (classic pub/sub: one server, or a
 * Sentinel primary) or `SPUBLISH` (sharded pub/sub on a Redis Cluster: the
 * waiter's channel lives in the lock key's slot, so the message stays on the
 * key's shard).
 *
 * @example
 * import { Publish } from 'leaselock/redis'
 * const onCluster: Publish = 'SPUBLISH'
 *
 * @since 0.1.0
 */
export type Publish = 'PUBLISH' | 'SPUBLISH'

/**
 * `passOn()` frees the key we hold: it hands it to the first entry of this
 * key whose deadline has not passed (sets the key to its token for the
 * entry's claim TTL, increments the counter and publishes
 * `"<fence> <claim ms> <token>"` on its channel with `publish`, the fence read
 * back with `GET`: a Lua number would print 10^14 as `1e+14`), dropping dead
 * entries on the way; with no such entry it deletes the key. The `SET` comes
 * before the entry is removed, so a write refused for lack of memory changes
 * nothing.
 */
const luaPassOn = (publish: Publish): string => `${luaNow}${luaParse}local function passOn()
  local i, t = 0, nil
  while true do
    local entry = redis.call('LINDEX', KEYS[3], i)
    if not entry then break end
    t = t or now()
    local deadline, claim, channel, token, key = parse(entry)
    if not deadline or deadline <= t then
      redis.call('LREM', KEYS[3], 1, entry)
    elseif key ~= KEYS[1] then
      i = i + 1
    else
      redis.call('SET', KEYS[1], token, 'PX', claim)
      redis.call('LREM', KEYS[3], 1, entry)
      redis.call('INCR', KEYS[2])
      redis.call('${publish}', channel, counter() .. ' ' .. claim .. ' ' .. token)
      return
    end
  end
  redis.call('DEL', KEYS[1])
end
`
/** `find(token)` answers the token's entry of this key, if any (needs `parse`); `dequeue(token)` removes it. */
const luaFind = `local function find(token)
  for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local _, _, _, t, key = parse(entry)
    if t == token and key == KEYS[1] then return entry end
  end
  return nil
end
local function dequeue(token)
  local entry = find(token)
  if entry then redis.call('LREM', KEYS[3], 1, entry) end
end
`

/** The release script's source, announcing the handover with `publish`. */
const releaseSource = (publish: Publish): string => `${luaPassOn(publish)}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
passOn()
return 1`

/** The leave script's source, announcing a raced handover with `publish`. */
const leaveSource = (publish: Publish): string => `${luaPassOn(publish)}${luaFind}dequeue(ARGV[1])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
passOn()
return 1`

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue;
 * `ARGV[1]` token. Frees the key only if it holds the token — handing it
 * straight to the first live waiter of the queue, if any (see
 * {@link acquireOrEnqueueScript}) — and returns 1; else 0. When nobody waits
 * this costs one `LINDEX` on a missing key more than a plain
 * compare-and-delete. Reads the server's `TIME` before writing: Redis 5 or
 * later. An error reply may come after a write (e.g. a counter that is not a
 * number): the store reports it as indeterminate.
 *
 * @example
 * import { releaseScript } from 'leaselock/redis'
 * assert.match(releaseScript.source, /PUBLISH/)
 *
 * @since 0.1.0
 */
export const releaseScript: Script = script(releaseSource('PUBLISH'))

/**
 * {@link releaseScript} announcing the handover with `SPUBLISH`, for a Redis
 * Cluster (see {@link Publish}); the same script otherwise.
 *
 * @example
 * import { shardedReleaseScript } from 'leaselock/redis'
 * assert.match(shardedReleaseScript.source, /SPUBLISH/)
 *
 * @since 0.1.0
 */
export const shardedReleaseScript: Script = script(releaseSource('SPUBLISH'))

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue;
 * `ARGV[1]` token, `ARGV[2]` TTL in ms, `ARGV[3]` how long to wait in ms,
 * `ARGV[4]` the waiter's notification channel, `ARGV[5]` its claim TTL in ms.
 * Takes the key if it is free, exactly like {@link acquireScript}, and
 * returns `{1, fence}`; otherwise appends an entry to the queue with the
 * deadline `TIME + ARGV[3]`, makes the queue live at least that long, and
 * returns `{0, counter}`: the fencing counter as it stands (every later
 * handover is above it).
 *
 * Idempotent for its token, like {@link acquireScript}, for a command sent
 * again after a failover: when the key already holds the token (the first run
 * took it, or it was handed over since), it resets the TTL to `ARGV[2]` and
 * returns `{1, counter}`; when the token already has an entry, it is not
 * queued twice.
 *
 * @example
 * import { acquireOrEnqueueScript } from 'leaselock/redis'
 * assert.match(acquireOrEnqueueScript.source, /RPUSH/)
 *
 * @since 0.1.0
 */
export const acquireOrEnqueueScript: Script = script(
  `${luaNow}${luaParse}${luaEntry}${luaFind}if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('INCR', KEYS[2])
  return {1, counter()}
end
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, counter()}
end
if not find(ARGV[1]) then redis.call('RPUSH', KEYS[3], entry(ARGV[1], ARGV[3], ARGV[4], ARGV[5])) end
keepQueue(ARGV[3])
return {0, counter()}`
)

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue;
 * `ARGV` as {@link acquireOrEnqueueScript}. A waiter's fallback when no
 * notification came (or came too late to be answered at once):
 *
 * - the key holds the token (it was handed over): resets its TTL to `ARGV[2]`
 *   and returns `{1, counter}` — the fence of the handover, or a larger one if
 *   another key shares the counter, which keeps fences growing all the same
 *   (while the key is ours, nothing else increments the counter for it);
 * - the key is free (its holder expired): takes it like {@link acquireScript},
 *   leaves the queue, and returns `{1, fence}`;
 * - the key is held by another token: returns `{0, counter}`, after putting
 *   the waiter back at the head of the queue if it has no entry (its handover
 *   lapsed unclaimed, its notification lost or late).
 *
 * @example
 * import { pollScript } from 'leaselock/redis'
 * assert.match(pollScript.source, /LPUSH/)
 *
 * @since 0.1.0
 */
export const pollScript: Script = script(
  `${luaNow}${luaParse}${luaEntry}${luaFind}local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if not redis.call('GET', KEYS[2]) then redis.call('INCR', KEYS[2]) end
  return {1, counter()}
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('INCR', KEYS[2])
  dequeue(ARGV[1])
  return {1, counter()}
end
if not find(ARGV[1]) then
  redis.call('LPUSH', KEYS[3], entry(ARGV[1], ARGV[3], ARGV[4], ARGV[5]))
  keepQueue(ARGV[3])
end
return {0, counter()}`
)

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue;
 * `ARGV[1]` token. A waiter gives up: removes its entry and, if a handover
 * raced its exit (the key holds its token), passes the key on like
 * {@link releaseScript}: 1 if it did, else 0.
 *
 * @example
 * import { leaveScript } from 'leaselock/redis'
 * assert.match(leaveScript.source, /LREM/)
 *
 * @since 0.1.0
 */
export const leaveScript: Script = script(leaveSource('PUBLISH'))

/**
 * {@link leaveScript} announcing a raced handover with `SPUBLISH`, for a
 * Redis Cluster (see {@link Publish}).
 *
 * @example
 * import { shardedLeaveScript } from 'leaselock/redis'
 * assert.match(shardedLeaveScript.source, /SPUBLISH/)
 *
 * @since 0.1.0
 */
export const shardedLeaveScript: Script = script(leaveSource('SPUBLISH'))

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter; `ARGV[1]` token, `ARGV[2]`
 * TTL in ms. Resets the TTL only if the key holds the token, and then returns
 * the counter as a decimal string: the fence of the grant the key is under
 * now. That is the holder's own fence — unless the key lapsed and a late or
 * re-sent acquire of the same token took it again under a new fence, which
 * the holder then carries on (or a larger value when another key shares the
 * counter, which keeps fences growing all the same). Returns nil when the key
 * does not hold the token.
 *
 * @example
 * import { extendScript } from 'leaselock/redis'
 * assert.match(extendScript.source, /PEXPIRE/)
 *
 * @since 0.1.0
 */
export const extendScript: Script = script(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return redis.call('GET', KEYS[2]) or redis.call('INCR', KEYS[2])
end
return false`
)

/**
 * The argument vector that runs a cached script: `EVALSHA sha numkeys keys… args…`.
 *
 * @example
 * import { evalShaCommand, extendScript } from 'leaselock/redis'
 * assert.deepStrictEqual(evalShaCommand(extendScript, ['k'], ['tok', '100']), ['EVALSHA', extendScript.sha1, '1', 'k', 'tok', '100'])
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
 * import { evalCommand, extendScript } from 'leaselock/redis'
 * assert.deepStrictEqual(evalCommand(extendScript, ['k'], ['tok', '100']), ['EVAL', extendScript.source, '1', 'k', 'tok', '100'])
 *
 * @since 0.1.0
 */
export const evalCommand = (
  s: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>
): ReadonlyArray<string> => ['EVAL', s.source, String(keys.length), ...keys, ...args]

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue.
 * Reads only: returns `{PTTL of the key, the counter (a decimal string, "0" if
 * none), the number of queue entries of this key whose deadline has not passed}`.
 * The queue is scanned whole (it holds the waiters of the key and of any key
 * sharing its queue, see `queueKey`).
 *
 * @example
 * import { inspectScript } from 'leaselock/redis'
 * assert.match(inspectScript.source, /PTTL/)
 *
 * @since 0.3.0
 */
export const inspectScript: Script = script(
  `${luaNow}${luaParse}local pttl = redis.call('PTTL', KEYS[1])
local t = now()
local waiters = 0
for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local deadline, _, _, _, key = parse(entry)
  if deadline and deadline > t and key == KEYS[1] then waiters = waiters + 1 end
end
return {pttl, counter(), waiters}`
)
