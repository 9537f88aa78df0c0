--[[
  A retained group taken off the retention sweep's due list (scaled down, gone, back in service),
  or moved to the time its records say it is due (retired again since it was marked), unless a
  deployment's finish marked it again since the sweep read it (another due time).
  KEYS[1] retention:due (sorted set: service:env:group by due time, ms)
  ARGV[1] the member, ARGV[2] its due time as read, ARGV[3] its due time now ('' none: taken off)
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  if ARGV[3] ~= '' then return redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
