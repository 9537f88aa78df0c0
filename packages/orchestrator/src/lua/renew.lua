--- @include "take-lock"
--- @include "deployment"
-- Extends the leases of a live deployment's lock and slot while its token holds the lock.
-- Answers {1} or {0, the lock's owner now} when it lost its cluster.
-- ARGV: 1 id, 2 lease ms, 3 now ms, 4 now (ISO), 5 by
if not holds_lock() then return {0, redis.call('HGET', KEYS[9], 'owner') or ''} end
renew_lock(ARGV[1], ARGV[5], ARGV[4], tonumber(ARGV[2]))
redis.call('ZADD', KEYS[12], 'XX', tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[1])
return {1, ARGV[1]}
