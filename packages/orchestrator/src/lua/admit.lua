--- @include "take-lock"
--- @include "deployment"
-- Saves a new deployment with what it may hold: the cluster's lock (or a place behind its holder
-- with queue) and a slot (or a place in the admission queue). An id that exists is refused: a
-- second submission of a fixed id (a release tick run twice) never resets a running record.
-- ARGV: 1 id, 2 queue ('1'), 3 limit, 4 json, 5 score, 6 member, 7 since, 8 lease ms, 9 by,
-- 10 now ms, 11 event, 12 the record's summary (write_last)
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return {'exists', ''} end
local holder = redis.call('HGET', KEYS[9], 'owner')
local outcome
if holder then
  if ARGV[2] ~= '1' then return {'conflict', holder} end
  redis.call('RPUSH', KEYS[11], ARGV[1])
  outcome = 'waiting'
else
  holder = ''
  redis.call('SET', KEYS[14], take_lock(KEYS[9], KEYS[10], ARGV[1], ARGV[9], ARGV[7], ARGV[8]))
  if has_slot_free(ARGV[3]) then
    redis.call('ZADD', KEYS[12], tonumber(ARGV[10]) + tonumber(ARGV[8]), ARGV[1])
    outcome = 'run'
  else
    redis.call('RPUSH', KEYS[13], ARGV[1])
    outcome = 'queued'
  end
end
local event = cjson.decode(ARGV[11])
event.admission = outcome
if outcome == 'waiting' then event.behind = holder end
write_record(ARGV[1], '1', ARGV[4], ARGV[12], ARGV[5], ARGV[6], { cjson.encode(event) })
return {outcome, holder}
