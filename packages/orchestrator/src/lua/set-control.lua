-- A person's pause, cancel or rollback, saved beside the record where no worker's write can
-- undo it, decided against the record as it is now: refused (with the reason to say) when the
-- deployment ended, is turning back already, or is past its point of no return; else saved with
-- its event. Answers {'set', state, started} for the caller to act on the state it was set in.
-- KEYS: 1 record, 2 control, 3 events, 4 all events. ARGV: 1 kind (or 'unpause'), 2 by, 3 event
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local d = cjson.decode(raw)
local finished = { succeeded = true, failed = true, ['rolled-back'] = true, cancelled = true }
if finished[d.state] then return {'finished', d.state} end
-- A resume of a deployment not paused yet: the pause asked, not taken yet, withdrawn ('withdrawn',
-- or 'none' when none waits); a paused one ('paused') is resumed by a run of its own.
if ARGV[1] == 'unpause' then
  if d.state == 'paused' then return {'paused'} end
  if redis.call('HDEL', KEYS[2], 'pause') == 0 then return {'none', d.state} end
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[3])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'event', ARGV[3])
  return {'withdrawn', d.state}
end
local turning = type(d.unwinding) == 'table'
if ARGV[1] == 'cancel' or ARGV[1] == 'rollback' then
  if type(d.irrevocable) == 'string' then return {'refused', d.irrevocable} end
  if turning then return {'refused', 'it is turning back already: ' .. d.unwinding.reason} end
elseif ARGV[1] == 'pause' and turning then
  return {'refused', 'it is turning back (' .. d.unwinding.reason .. '): a pause would leave it half-way'}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[3], '*', 'event', ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'event', ARGV[3])
local started = '0'
if type(d.startedAt) == 'string' then started = '1' end
return {'set', d.state, started}
