-- Takes a free lock: a new fencing token (rising with every acquisition), the owner and who
-- asked, and the lease. Answers the token. Included by the scripts that take a lock together
-- with other writes (`--- @include "take-lock"`).
local function take_lock(lockKey, fenceKey, owner, holder, since, leaseMs)
  local token = redis.call('INCR', fenceKey)
  redis.call('DEL', lockKey)
  redis.call('HSET', lockKey, 'token', token, 'owner', owner, 'holder', holder, 'since', since)
  redis.call('PEXPIRE', lockKey, leaseMs)
  return token
end
