--- @include "take-lock"
--- @include "deployment"
-- Saves a change of the record read at the expected version (a stale writer gets 0), with its
-- events, and what the change does to what it holds:
--  step                 a live deployment's change: fenced by its lock token (-1 when it lost
--                       its cluster), renewing its lock and slot;
--  step-unless-control  the same, refused (2) while a cancel or rollback waits: the step that
--                       makes the deployment irrevocable, or that pauses it, never hides one;
--  advance              the same as step, refused (2) while any request waits (a pause too): one
--                       action's end and the next one's start saved together, the runner going
--                       straight on to it;
--  pause                (unless-control) gives its slot back, keeping its lock; refused (2) when
--                       the pause asked was withdrawn meanwhile;
--  resume               takes a free slot, or queues for one (saving the queued record instead);
--  finish               ends it: frees its lock and slot, admits who may start, marks its group
--                       vetted when it succeeded, counts the outcome and puts its notification in
--                       the outbox, marks the group it retired due for the retention sweep
--                       (retention:due), and says which requests it never got to.
-- ARGV: 1 id, 2 expected version, 3 json, 4 score, 5 member, 6 mode, 7 limit, 8 now (ISO),
-- 9 lease ms, 10 now ms, 11 prefix, 12 by, 13 notification ('' none), 14 outcome (finish),
-- 15 group to mark vetted (''), 16 json when queued (resume) or the request a finish applied,
-- 17 counter field, 18 the summary of json (write_last), 19 the summary of the json when queued
-- (resume) or '', 20 the group it retired as retention:due's member ('' none), 21 when it is due (ms),
-- 22… events
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return {0} end
local mode = ARGV[6]
local id = ARGV[1]
if mode ~= 'finish' then
  if not holds_lock() then return {-1, redis.call('HGET', KEYS[9], 'owner') or ''} end
  if mode == 'step-unless-control' or mode == 'pause' then
    if redis.call('HEXISTS', KEYS[8], 'cancel') == 1 or redis.call('HEXISTS', KEYS[8], 'rollback') == 1 then
      return {2, '', redis.call('HGETALL', KEYS[8]), {}, ''}
    end
  elseif mode == 'advance' and redis.call('EXISTS', KEYS[8]) == 1 then
    return {2, '', redis.call('HGETALL', KEYS[8]), {}, ''}
  end
  -- A pause withdrawn (a resume that came before the pause was taken) is not taken.
  if mode == 'pause' and redis.call('HEXISTS', KEYS[8], 'pause') == 0 then
    return {2, '', redis.call('HGETALL', KEYS[8]), {}, ''}
  end
end
local events = {}
for i = 22, #ARGV do table.insert(events, ARGV[i]) end
local json = ARGV[3]
local summary = ARGV[18]
local leaseMs = tonumber(ARGV[9])
local nowMs = tonumber(ARGV[10])
local admitted = {}
local outcome = ''
if mode == 'finish' then
  admitted = free_all(id, ARGV[7], ARGV[8], leaseMs, nowMs, ARGV[11])
  -- The request it ended by is applied; any other is said, before the end, as never acted on.
  if ARGV[16] ~= '' then redis.call('HDEL', KEYS[8], ARGV[16]) end
  local unapplied = redis.call('HGETALL', KEYS[8])
  if #unapplied > 0 then
    local requests = {}
    for i = 1, #unapplied, 2 do requests[unapplied[i]] = unapplied[i + 1] end
    table.insert(events, 1, cjson.encode({ type = 'requests-unapplied', deployment = id, at = ARGV[8],
      state = ARGV[14], requests = requests, reason = 'it ended (' .. ARGV[14] .. ') before it could act on them' }))
    redis.call('DEL', KEYS[8])
  end
  if ARGV[14] == 'succeeded' and ARGV[15] ~= '' then redis.call('SADD', KEYS[15], ARGV[15]) end
  if redis.call('SADD', KEYS[17], id) == 1 then redis.call('HINCRBY', KEYS[18], ARGV[17], 1) end
  -- In the same step as the end: a crash right after it loses no mark.
  if ARGV[20] ~= '' then redis.call('ZADD', ARGV[11] .. 'retention:due', ARGV[21], ARGV[20]) end
else
  renew_lock(id, ARGV[12], ARGV[8], leaseMs)
  if mode == 'pause' then
    redis.call('ZREM', KEYS[12], id)
    admitted = fill_slots(ARGV[7], nowMs, leaseMs)
  elseif mode == 'resume' then
    redis.call('HDEL', KEYS[8], 'pause')
    if redis.call('ZSCORE', KEYS[12], id) then
      outcome = 'run'
    elseif has_slot_free(ARGV[7]) then
      redis.call('ZADD', KEYS[12], nowMs + leaseMs, id)
      outcome = 'run'
    else
      if redis.call('LPOS', KEYS[13], id) == false then redis.call('RPUSH', KEYS[13], id) end
      json = ARGV[16]
      summary = ARGV[19]
      outcome = 'queued'
    end
  else
    redis.call('ZADD', KEYS[12], 'XX', nowMs + leaseMs, id)
  end
end
if ARGV[13] ~= '' then redis.call('XADD', KEYS[16], '*', 'deployment', id, 'kind', ARGV[13]) end
write_record(id, tostring(tonumber(ARGV[2]) + 1), json, summary, ARGV[4], ARGV[5], events)
return {1, redis.call('HGET', KEYS[9], 'owner') or '', redis.call('HGETALL', KEYS[8]), admitted, outcome}
