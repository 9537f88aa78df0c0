-- A promotion starting on its target, in one step with the check that it is still the newest: one
-- made since (its claim moved) or already started there supersedes it. Answers {1} when it may
-- submit (again, once started), or {0, the release that supersedes it}.
-- KEYS: 1 the target's claim (the newest promotion to it), 2 the promotion started on it. ARGV: 1 release id.
local started = redis.call('GET', KEYS[2])
if started == ARGV[1] then return {1} end
local claim = redis.call('GET', KEYS[1])
if claim ~= ARGV[1] then return {0, claim or started or ''} end
redis.call('SET', KEYS[2], ARGV[1])
return {1}
