-- KEYS: 1 lock. ARGV: 1 token, 2 lease ms. Extends the lease of the holder of this token only.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
