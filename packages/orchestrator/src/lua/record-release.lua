-- Records a cluster's release once per deployment, however often the record action runs.
-- KEYS: 1 the cluster's releases. ARGV: 1 deployment, 2 release
local head = redis.call('LINDEX', KEYS[1], 0)
if head and cjson.decode(head).deployment == ARGV[1] then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, 99)
return 1
