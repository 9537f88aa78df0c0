--- @include "take-lock"
-- KEYS: 1 lock, 2 fence. ARGV: 1 owner, 2 holder, 3 since, 4 lease ms. Answers the token, or 0 when held.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return take_lock(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
