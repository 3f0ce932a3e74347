/**
 * The Lua scripts behind Redis permits (semaphores, read-write locks): each
 * runs atomically and judges every expiry on the server's clock (`TIME`),
 * never a client's.
 *
 * Keys, all in the permit key's cluster slot (see `permitKeys`): `KEYS[1]`
 * the holders (a hash: token → `"<weight> <limit> <fence> <expires at ms>"`),
 * `KEYS[2]` the permits' fencing counter (apart from a lock's), `KEYS[3]` the
 * wait queue (a list of `"<expires at ms> <weight> <channel length>
 * <channel><token>"`, first first: the channel is where the waiter's client
 * is woken, empty for a client that polls only).
 * The holders hash and the queue expire after their longest-lived entry.
 *
 * @since 0.4.0
 */
import { Script, script } from './scripts.js'

/** Helpers: the server's time in ms, a holder's fields, a waiter's fields, keeping a key alive at least `ms`. */
const luaCommon = `local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function holder(value)
  local w, l, f, e = string.match(value or '', '^(%d+) (%d+) (%d+) (%d+)$')
  if not w then return nil end
  return tonumber(w), tonumber(l), f, tonumber(e)
end
local function waiter(entry)
  local e, w, c, rest = string.match(entry, '^(%d+) (%d+) (%d+) (.*)$')
  if not e then return nil end
  c = tonumber(c)
  return tonumber(e), tonumber(w), string.sub(rest, c + 1), string.sub(rest, 1, c)
end
local function keepAlive(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function ms(x) return string.format('%.0f', x) end
local function dequeue(token)
  for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local _, _, t = waiter(entry)
    if t == token then redis.call('LREM', KEYS[3], 1, entry) return true end
  end
  return false
end
`

/**
 * `ARGV[1]` token, `ARGV[2]` weight, `ARGV[3]` limit, `ARGV[4]` TTL in ms,
 * `ARGV[5]` how long to keep a place in the queue (0: none), `ARGV[6]` the
 * channel that wakes the waiter (empty: none). Drops expired
 * holders; a token that holds a permit gets its fence back and its TTL made
 * at least `ARGV[4]` (never shorter: the request may be a late copy, and the
 * holder may have extended the permit since); otherwise the request is admitted when the weights held, those of the
 * live waiters ahead of it and its own fit the smallest limit among its own
 * and the holders' (see `PermitStore`): it then takes the next fence, leaves
 * the queue and the script returns the fence as a decimal string. Otherwise
 * it returns nil, after appending the waiter to the queue (or, if queued,
 * refreshing its entry in place) for `min(ARGV[5], ARGV[4])` when `ARGV[5]`
 * is above 0.
 *
 * @example
 * import { permitAcquireScript } from 'leaselock/redis'
 * assert.match(permitAcquireScript.source, /INCR/)
 *
 * @since 0.4.0
 */
export const permitAcquireScript: Script = script(
  `${luaCommon}local t = now()
local token, weight, limit, ttl, wait = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local used, capacity, mine = 0, limit, nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local w, l, f, e = holder(all[i + 1])
  if not w or e <= t then
    redis.call('HDEL', KEYS[1], all[i])
  else
    used = used + w
    if l < capacity then capacity = l end
    if all[i] == token then mine = all[i + 1] end
  end
end
if mine then
  local w, l, f, e = holder(mine)
  redis.call('HSET', KEYS[1], token, w .. ' ' .. l .. ' ' .. f .. ' ' .. ms(math.max(e, t + ttl)))
  keepAlive(KEYS[1], ttl)
  dequeue(token)
  return f
end
local ahead, place = 0, nil
for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local e, w, other = waiter(entry)
  if not e or e <= t then
    redis.call('LREM', KEYS[3], 1, entry)
  elseif other == token then
    place = entry
    break
  else
    ahead = ahead + w
  end
end
if used + ahead + weight <= capacity then
  redis.call('INCR', KEYS[2])
  local fence = redis.call('GET', KEYS[2])
  redis.call('HSET', KEYS[1], token, weight .. ' ' .. limit .. ' ' .. fence .. ' ' .. ms(t + ttl))
  keepAlive(KEYS[1], ttl)
  if place then redis.call('LREM', KEYS[3], 1, place) end
  return fence
end
if wait > 0 then
  local life = math.min(wait, ttl)
  local entry = ms(t + life) .. ' ' .. weight .. ' ' .. #ARGV[6] .. ' ' .. ARGV[6] .. token
  if place then
    redis.call('LINSERT', KEYS[3], 'BEFORE', place, entry)
    redis.call('LREM', KEYS[3], 1, place)
  else
    redis.call('RPUSH', KEYS[3], entry)
  end
  keepAlive(KEYS[3], life)
end
return false`
)

/**
 * `ARGV[1]` token, `ARGV[2]` the permit key. Removes the token's queue entry
 * and its permit: returns 1 if it held a live permit, else 0. When it removed
 * either, it wakes the live waiters that may fit now — the first, and those
 * behind it while the weights held and queued up to them fit the holders'
 * smallest limit (all of them when nobody holds a permit) — by publishing
 * the permit key once on each of their distinct channels.
 *
 * @example
 * import { permitReleaseScript } from 'leaselock/redis'
 * assert.match(permitReleaseScript.source, /HDEL/)
 *
 * @since 0.4.0
 */
export const permitReleaseScript: Script = script(
  `${luaCommon}local t = now()
local left = dequeue(ARGV[1])
local w, _, _, e = holder(redis.call('HGET', KEYS[1], ARGV[1]))
redis.call('HDEL', KEYS[1], ARGV[1])
local held = w and e > t
if held or left then
  local holders = redis.call('HGETALL', KEYS[1])
  local used, capacity = 0, nil
  for i = 1, #holders, 2 do
    local hw, hl, _, he = holder(holders[i + 1])
    if hw and he > t then
      used = used + hw
      capacity = capacity and math.min(capacity, hl) or hl
    end
  end
  local woken, ahead, first = {}, 0, true
  for _, entry in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local until_, weight, _, channel = waiter(entry)
    if until_ and until_ > t then
      ahead = ahead + weight
      if not first and capacity and used + ahead > capacity then break end
      first = false
      if channel ~= '' and not woken[channel] then
        woken[channel] = true
        redis.call('PUBLISH', channel, ARGV[2])
      end
    end
  end
end
if held then return 1 end
return 0`
)

/**
 * `ARGV[1]` token, `ARGV[2]` TTL in ms. Resets the permit's TTL if the token
 * holds a live one, and returns its fence as a decimal string; else nil.
 *
 * @example
 * import { permitExtendScript } from 'leaselock/redis'
 * assert.match(permitExtendScript.source, /HSET/)
 *
 * @since 0.4.0
 */
export const permitExtendScript: Script = script(
  `${luaCommon}local t, ttl = now(), tonumber(ARGV[2])
local w, l, f, e = holder(redis.call('HGET', KEYS[1], ARGV[1]))
if not w or e <= t then return false end
redis.call('HSET', KEYS[1], ARGV[1], w .. ' ' .. l .. ' ' .. f .. ' ' .. ms(t + ttl))
keepAlive(KEYS[1], ttl)
return f`
)
