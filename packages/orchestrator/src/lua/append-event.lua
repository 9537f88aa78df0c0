-- An event appended outside a transition, fenced like one: only while the deployment has not
-- finished, and (given a version) only by a writer that read the record as it is.
-- KEYS: 1 record, 2 version, 3 events, 4 all events. ARGV: 1 expected version ('' for any), 2 event,
-- 3 '1' when the event (a JSON object) ends with the record's state, as saved, added here
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local finished = { succeeded = true, failed = true, ['rolled-back'] = true, cancelled = true }
local state = cjson.decode(raw).state
if finished[state] then return 0 end
if ARGV[1] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local event = ARGV[2]
if ARGV[3] == '1' then event = string.sub(event, 1, -2) .. ',"state":' .. cjson.encode(state) .. '}' end
local id = redis.call('XADD', KEYS[3], '*', 'event', event)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'event', event)
return id
