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
 * Lua helpers for the fencing counter (`KEYS[2]`). `fence(idle)` takes the
 * next fence: it increments the counter, or — when the counter is missing
 * (never set, or expired after an idle period) — seeds it from the server's
 * clock in microseconds (`TIME`, concatenated as digits: exact, no Lua
 * number); either way the counter then expires after `idle` ms without a
 * grant or an extend, and its new value is answered as a decimal string (read
 * back with `GET`: a Lua number would print 10^14 as `1e+14`). `current(idle)`
 * is the fence the key is under now: the counter (kept for another `idle`
 * ms), or a new one if it expired meanwhile. `counter()` reads it, `"0"` when
 * missing (a `seen` value every later fence is above).
 *
 * Why a re-seeded counter is above every fence it gave before: it counts one
 * per grant from a value taken from the clock, so it stays below the clock as
 * long as the key gets fewer grants than microseconds pass; and it is
 * re-seeded at least `idle` ms after its last write, from a clock that has
 * not stepped back by that much meanwhile.
 */
/**
 * `lengthen(ttl)` makes the lock key (`KEYS[1]`, held by the caller's token)
 * live at least `ttl` ms from now, never less than it has left: a request
 * that finds the key already ours may be a late copy, and the holder may have
 * extended the key since it was sent.
 */
const luaLengthen = `local function lengthen(ttl)
  if redis.call('PTTL', KEYS[1]) < tonumber(ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
end
`

const luaFence = `local function fence(idle)
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('INCR', KEYS[2])
    redis.call('PEXPIRE', KEYS[2], idle)
  else
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.sub('00000' .. t[2], -6), 'PX', idle)
  end
  return redis.call('GET', KEYS[2])
end
local function current(idle)
  local value = redis.call('GET', KEYS[2])
  if not value then return fence(idle) end
  redis.call('PEXPIRE', KEYS[2], idle)
  return value
end
local function counter()
  return redis.call('GET', KEYS[2]) or '0'
end
`

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter; `ARGV[1]` token, `ARGV[2]`
 * TTL in ms, `ARGV[3]` how long the counter outlives the key's last grant or
 * extend, in ms (the store's `fenceIdleMs`). Sets the key only if it is free
 * (`SET NX PX`) and, only then, takes the next fence (increments the counter,
 * or seeds a missing one from the server's clock in microseconds) and returns
 * it as a decimal string (exact beyond 2^53, where a Lua number would round).
 * Returns nil when the key is held by another token.
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
  `${luaFence}if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return fence(ARGV[3]) end
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return current(ARGV[3]) end
return false`
)

/**
 * The most dead entries (waiters whose deadline passed without leaving: a
 * crashed or cut-off client) one queue script drops. Each costs two sorted-set
 * removals and a hash field removal, sent as three variadic commands for all
 * of them, so a script stays well under a millisecond at any queue length;
 * the rest are left for the next script that passes the key on.
 */
const MAX_DEAD_PER_SCRIPT = 100

/**
 * Lua helpers of the queue scripts (`KEYS[1]` lock key, `KEYS[2]` its
 * counter, `KEYS[3]` its queue, `KEYS[4]` the queue's index). Two keys can
 * share a queue (`a` and `{a}`, see `queueKey`), and they differ in length:
 * everything of a key is filed under `ID`, its length and a colon.
 *
 * - The queue is one sorted set, every score 0, ordered by member: each
 *   waiter has two members, `ID a:<place><token>` (arrival order: the place
 *   is 16 digits, 10^15 plus a number from the index's `+` counter, or one
 *   below the first waiter's for a poll put back at the head) and
 *   `ID d:<deadline><place><token>` (deadline order: 15 digits of ms on the
 *   server's clock). `ZRANGEBYLEX` finds the first waiter, or the dead ones,
 *   in O(log N).
 * - The index is a hash: field `ID<token>` → `<place> <deadline> <claim ms>
 *   <channel>` (the claim TTL the waiter's own client asked for, the channel
 *   that wakes it), and field `+` the last place given. It is deleted with
 *   the queue's last entry (Redis deletes an empty sorted set by itself).
 *
 * Every operation is O(log N) in the queue's length, plus O(log N) per dead
 * entry dropped (at most {@link MAX_DEAD_PER_SCRIPT} per script).
 */
const luaQueue = `local ID = #KEYS[1] .. ':'
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function arrival(place, token) return ID .. 'a:' .. place .. token end
local function byDeadline(deadline, place, token) return ID .. 'd:' .. deadline .. place .. token end
local function first()
  return redis.call('ZRANGEBYLEX', KEYS[3], '[' .. ID .. 'a:', '(' .. ID .. 'a;', 'LIMIT', 0, 1)[1]
end
local function entryOf(token)
  local entry = redis.call('HGET', KEYS[4], ID .. token)
  if not entry then return nil end
  return string.match(entry, '^(%d+) (%d+) (%d+) (.*)$')
end
local function tidy()
  if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('DEL', KEYS[4]) end
end
local function remove(token, place, deadline)
  redis.call('ZREM', KEYS[3], arrival(place, token), byDeadline(deadline, place, token))
  redis.call('HDEL', KEYS[4], ID .. token)
  tidy()
end
local function dequeue(token)
  local place, deadline = entryOf(token)
  if place then remove(token, place, deadline) end
end
local function enqueue(token, wait, channel, claim, atHead)
  local head = atHead and first()
  local place = head and tonumber(string.sub(head, #ID + 3, #ID + 18)) - 1 or 1e15 + redis.call('HINCRBY', KEYS[4], '+', 1)
  place = string.format('%016.0f', place)
  local deadline = string.format('%015.0f', now() + tonumber(wait))
  redis.call('ZADD', KEYS[3], 0, arrival(place, token), 0, byDeadline(deadline, place, token))
  redis.call('HSET', KEYS[4], ID .. token, place .. ' ' .. deadline .. ' ' .. claim .. ' ' .. channel)
end
local function keepQueue(wait)
  for i = 3, 4 do
    if redis.call('PTTL', KEYS[i]) < tonumber(wait) then redis.call('PEXPIRE', KEYS[i], wait) end
  end
end
local function dropDead(t)
  local dead = redis.call('ZRANGEBYLEX', KEYS[3], '[' .. ID .. 'd:', '(' .. ID .. 'd:' .. string.format('%015.0f', t + 1), 'LIMIT', 0, ${MAX_DEAD_PER_SCRIPT})
  if #dead == 0 then return end
  local members, fields = {}, {}
  for _, member in ipairs(dead) do
    local place, token = string.sub(member, #ID + 18, #ID + 33), string.sub(member, #ID + 34)
    members[#members + 1] = member
    members[#members + 1] = arrival(place, token)
    fields[#fields + 1] = ID .. token
  end
  redis.call('ZREM', KEYS[3], unpack(members))
  redis.call('HDEL', KEYS[4], unpack(fields))
  tidy()
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
 * `passOn(idle)` frees the key we hold: it drops up to
 * {@link MAX_DEAD_PER_SCRIPT} dead entries of this key, then hands the key to
 * the first waiter if its deadline has not passed (sets the key to its token
 * for the entry's claim TTL, takes the next fence and publishes
 * `"<fence> <claim ms> <token>"` on its channel with `publish`); otherwise
 * (nobody waits, or more dead entries than one script drops) it deletes the
 * key, and a live waiter behind the dead ones finds it free when it polls.
 * The `SET` comes before the entry is removed, so a write refused for lack of
 * memory changes nothing.
 */
const luaPassOn = (publish: Publish): string => `${luaFence}${luaQueue}local function passOn(idle)
  local t = now()
  dropDead(t)
  local head = first()
  if head then
    local token = string.sub(head, #ID + 19)
    local place, deadline, claim, channel = entryOf(token)
    if tonumber(deadline) > t then
      redis.call('SET', KEYS[1], token, 'PX', claim)
      remove(token, place, deadline)
      redis.call('${publish}', channel, fence(idle) .. ' ' .. claim .. ' ' .. token)
      return
    end
  end
  redis.call('DEL', KEYS[1])
end
`

/** The release script's source, announcing the handover with `publish`. */
const releaseSource = (publish: Publish): string => `${luaPassOn(publish)}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
passOn(ARGV[2])
return 1`

/** The leave script's source, announcing a raced handover with `publish`. */
const leaveSource = (publish: Publish): string => `${luaPassOn(publish)}dequeue(ARGV[1])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
passOn(ARGV[2])
return 1`

/**
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue,
 * `KEYS[4]` the queue's index; `ARGV[1]` token, `ARGV[2]` the counter's idle
 * period in ms (see {@link acquireScript}). Frees the key only if it holds the
 * token — handing it straight to the first live waiter of the queue, if any
 * (see {@link acquireOrEnqueueScript}) — and returns 1; else 0. When nobody
 * waits this costs a `TIME` and a range read of a missing key more than a
 * plain compare-and-delete; with waiters, O(log N) in the queue's length. Reads
 * the server's `TIME` before writing: Redis 5 or later. An error reply may
 * come after a write (e.g. a counter that is not a number): the store reports
 * it as indeterminate.
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
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait queue,
 * `KEYS[4]` the queue's index; `ARGV[1]` token, `ARGV[2]` TTL in ms,
 * `ARGV[3]` how long to wait in ms, `ARGV[4]` the waiter's notification
 * channel, `ARGV[5]` its claim TTL in ms, `ARGV[6]` the counter's idle period
 * in ms. Takes the key if it is free, exactly like {@link acquireScript}, and
 * returns `{1, fence}`; otherwise queues the waiter last with the deadline
 * `TIME + ARGV[3]`, makes the queue live at least that long, and returns
 * `{0, counter, pttl}`: the fencing counter as it stands (every later
 * handover is above it) and the holder's remaining TTL in ms (`PTTL`: -1 for
 * a key without one), the earliest the key can be free with no handover.
 * O(log N) in the queue's length.
 *
 * Idempotent for its token, like {@link acquireScript}, for a command sent
 * again after a failover: when the key already holds the token (the first run
 * took it, or it was handed over since), it makes the TTL at least `ARGV[2]`
 * (never shorter: a late copy must not cut an extend the holder made since)
 * and returns `{1, counter}`; when the token already has an entry, it is not
 * queued twice.
 *
 * @example
 * import { acquireOrEnqueueScript } from 'leaselock/redis'
 * assert.match(acquireOrEnqueueScript.source, /ZADD/)
 *
 * @since 0.1.0
 */
export const acquireOrEnqueueScript: Script = script(
  `${luaFence}${luaQueue}${luaLengthen}if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, fence(ARGV[6])} end
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  lengthen(ARGV[2])
  return {1, current(ARGV[6])}
end
if not redis.call('HGET', KEYS[4], ID .. ARGV[1]) then enqueue(ARGV[1], ARGV[3], ARGV[4], ARGV[5], false) end
keepQueue(ARGV[3])
return {0, counter(), redis.call('PTTL', KEYS[1])}`
)

/**
 * `KEYS` and `ARGV` as {@link acquireOrEnqueueScript}. A waiter's fallback
 * when no notification came (or came too late to be answered at once):
 *
 * - the key holds the token (it was handed over): makes its TTL at least
 *   `ARGV[2]` (never shorter, see `acquireOrEnqueueScript`) and returns `{1, counter}` — the fence of the handover (while the key is
 *   ours, nothing else increments its counter);
 * - the key is free (its holder expired): takes it like {@link acquireScript},
 *   leaves the queue, and returns `{1, fence}`;
 * - the key is held by another token: returns `{0, counter, pttl}` (as
 *   {@link acquireOrEnqueueScript}), after putting the waiter back at the head
 *   of the queue if it has no entry (its handover lapsed unclaimed, its
 *   notification lost or late).
 *
 * O(log N) in the queue's length.
 *
 * @example
 * import { pollScript } from 'leaselock/redis'
 * assert.match(pollScript.source, /ZADD/)
 *
 * @since 0.1.0
 */
export const pollScript: Script = script(
  `${luaFence}${luaQueue}${luaLengthen}local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  lengthen(ARGV[2])
  return {1, current(ARGV[6])}
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local taken = fence(ARGV[6])
  dequeue(ARGV[1])
  return {1, taken}
end
if not redis.call('HGET', KEYS[4], ID .. ARGV[1]) then
  enqueue(ARGV[1], ARGV[3], ARGV[4], ARGV[5], true)
  keepQueue(ARGV[3])
end
return {0, counter(), redis.call('PTTL', KEYS[1])}`
)

/**
 * `KEYS` as {@link releaseScript}; `ARGV[1]` token, `ARGV[2]` the counter's
 * idle period in ms. A waiter gives up: removes its entry and, if a handover
 * raced its exit (the key holds its token), passes the key on like
 * {@link releaseScript}: 1 if it did, else 0. O(log N) in the queue's length.
 *
 * @example
 * import { leaveScript } from 'leaselock/redis'
 * assert.match(leaveScript.source, /ZREM/)
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
 * TTL in ms, `ARGV[3]` the counter's idle period in ms (see
 * {@link acquireScript}). Resets the TTL only if the key holds the token, and
 * then returns the counter as a decimal string (keeping it another idle
 * period): the fence of the grant the key is under now. That is the holder's
 * own fence — unless the key lapsed and a late or re-sent acquire of the same
 * token took it again under a new fence, which the holder then carries on
 * (or a larger value when the counter expired and is re-seeded, which keeps
 * fences growing all the same). Returns nil when the key does not hold the
 * token.
 *
 * @example
 * import { extendScript } from 'leaselock/redis'
 * assert.match(extendScript.source, /PEXPIRE/)
 *
 * @since 0.1.0
 */
export const extendScript: Script = script(
  `${luaFence}if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return current(ARGV[3])
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
 * `KEYS[1]` lock key, `KEYS[2]` its fencing counter, `KEYS[3]` its wait
 * queue. Reads only: returns `{PTTL of the key, the counter (a decimal
 * string, "0" if none), the number of queue entries of this key whose
 * deadline has not passed}` — one count over the queue's deadline order,
 * O(log N) in its length (entries of a key sharing the queue, see
 * `queueKey`, are not counted).
 *
 * @example
 * import { inspectScript } from 'leaselock/redis'
 * assert.match(inspectScript.source, /PTTL/)
 *
 * @since 0.3.0
 */
export const inspectScript: Script = script(
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ID = #KEYS[1] .. ':'
local waiters = redis.call('ZLEXCOUNT', KEYS[3], '[' .. ID .. 'd:' .. string.format('%015.0f', now + 1), '(' .. ID .. 'd;')
return {redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or '0', waiters}`
)
