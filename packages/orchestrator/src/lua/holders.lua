--[[
  Each cluster's lock holder, for a view of every cluster: one command instead of one HGET each.
  KEYS the clusters' lock keys; answers their owners in order (nil where unlocked).
]]
local owners = {}
for i, k in ipairs(KEYS) do
  owners[i] = redis.call('HGET', k, 'owner')
end
return owners
