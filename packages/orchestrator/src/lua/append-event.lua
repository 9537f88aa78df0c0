-- An event appended outside a transition, fenced like one: only while the deployment has not
-- finished, and (given a version) only by a writer that read the record as it is.
-- KEYS: 1 record, 2 version, 3 events, 4 all events. ARGV: 1 expected version ('' for any), 2 event
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local finished = { succeeded = true, failed = true, ['rolled-back'] = true, cancelled = true }
if finished[cjson.decode(raw).state] then return 0 end
if ARGV[1] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local id = redis.call('XADD', KEYS[3], '*', 'event', ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'event', ARGV[2])
return id
