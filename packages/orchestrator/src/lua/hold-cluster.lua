--- @include "take-lock"
--- @include "deployment"
-- The retention sweep's short hold of a cluster, through the lock ADMIT takes (and no slot):
-- while it holds it, a deployment admitted waits behind it (queue) or is refused. A free lock
-- with deployments waiting for it (a hold whose process died) passes to the first of them instead.
-- KEYS are the hold's. Answers {'held'}, {'busy', owner} or {'passed', who may start}.
-- ARGV: 1 the hold's id, 2 its group, 3 since (ISO), 4 lease ms, 5 limit, 6 now ms, 7 prefix
if redis.call('EXISTS', KEYS[9]) == 1 then return {'busy', redis.call('HGET', KEYS[9], 'owner') or ''} end
local waiting = redis.call('LPOP', KEYS[11])
if waiting then
  grant_lock(waiting, ARGV[7], ARGV[3], tonumber(ARGV[4]))
  redis.call('RPUSH', KEYS[13], waiting)
  return {'passed', fill_slots(ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[4]))}
end
local token = take_lock(KEYS[9], KEYS[10], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
redis.call('SET', KEYS[14], token, 'PX', tonumber(ARGV[4]) * 2)
return {'held', token}
