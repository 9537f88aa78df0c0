--- @include "take-lock"
--- @include "deployment"
-- An admin breaking a cluster's lock, in one step: the lock, its holder's slot, its place in the
-- admission queue and its token go together (the holder, fenced out, can take none of them back),
-- and the cluster passes to the next deployment waiting for it. The break is recorded (KEYS[19],
-- the cluster's last 100) and the holder left to be ended (KEYS[20]: id → reason) in the same step,
-- so a breaker that dies right after still has its holder ended, by the next sweep; and the
-- holder's timeline says so (its 'lock-broken' event, with the state it was broken in), before
-- anyone (the breaker, a sweep, its own run) can end it.
-- KEYS are the holder's. ARGV: 1 holder's id, 2 the token read, 3 limit, 4 now (ISO), 5 lease ms,
-- 6 now ms, 7 prefix, 8 the break's record (JSON), 9 the reason the holder ends with, 10 the
-- holder's event (JSON, its state added here)
if redis.call('HGET', KEYS[9], 'token') ~= ARGV[2] then return {0} end
local info = redis.call('HGETALL', KEYS[9])
redis.call('DEL', KEYS[9])
redis.call('ZREM', KEYS[12], ARGV[1])
redis.call('LREM', KEYS[13], 0, ARGV[1])
redis.call('DEL', KEYS[14])
redis.call('LPUSH', KEYS[19], ARGV[8])
redis.call('LTRIM', KEYS[19], 0, 99)
redis.call('HSET', KEYS[20], ARGV[1], ARGV[9])
local raw = redis.call('GET', KEYS[1])
if raw then
  local event = cjson.decode(ARGV[10])
  event.state = cjson.decode(raw).state
  append_events({ cjson.encode(event) })
end
local admitted = free_all(ARGV[1], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
return {1, info, admitted}
