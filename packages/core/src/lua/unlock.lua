-- KEYS: 1 lock. ARGV: 1 token. Frees the lock if this token still holds it.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
