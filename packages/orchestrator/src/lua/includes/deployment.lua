-- What every deployment script shares. KEYS, as store.ts's keysOf names them:
--  1 record, 2 version, 3 index, 4 cluster index, 5 clusters, 6 events, 7 all events, 8 control,
--  9 cluster lock, 10 cluster fence, 11 cluster waiting list, 12 running (the slots), 13 admission
--  (lock holders waiting for a slot), 14 holds (the lock token this deployment was given),
--  15 cluster vetted groups, 16 outbox, 17 counted, 18 totals.

local FINISHED = { succeeded = true, failed = true, ['rolled-back'] = true, cancelled = true }

-- What a list of clusters shows of each one's newest deployment, kept beside the records (a hash
-- named after the index, one field per cluster) so that a list of thousands parses no record.
-- The summary (id, state, by, createdAt, finishedAt, undoOf as JSON) comes from the writer, which
-- has the record at hand: the record itself is never decoded here.
local function write_last(id, summary, member)
  if redis.call('ZREVRANGE', KEYS[4], 0, 0)[1] ~= id then return end
  redis.call('HSET', KEYS[3] .. ':last', member, summary)
end

-- The deployment's events (JSON texts), to its own stream and to every deployment's.
local function append_events(events)
  for _, event in ipairs(events) do
    redis.call('XADD', KEYS[6], '*', 'event', event)
    redis.call('XADD', KEYS[7], 'MAXLEN', '~', '10000', '*', 'event', event)
  end
end

local function write_record(id, version, json, summary, score, member, events)
  redis.call('SET', KEYS[2], version)
  redis.call('SET', KEYS[1], json)
  redis.call('ZADD', KEYS[3], score, id)
  redis.call('ZADD', KEYS[4], score, id)
  redis.call('SADD', KEYS[5], member)
  write_last(id, summary, member)
  append_events(events)
end

local function holder_of(prefix, id)
  local raw = redis.call('GET', prefix .. 'deployment:' .. id)
  if not raw then return '' end
  return cjson.decode(raw).by or ''
end

-- Whether the deployment still holds its cluster: the lock carries the token it was given, or
-- the lease ran out and nobody took the lock since (the fence has not moved past its token).
local function holds_lock()
  local mine = redis.call('GET', KEYS[14])
  if not mine then return false end
  local token = redis.call('HGET', KEYS[9], 'token')
  if token then return token == mine end
  return redis.call('GET', KEYS[10]) == mine
end

-- Renews the lease of a lock it holds, taking it back with the same token if the lease ran out.
local function renew_lock(id, holder, since, leaseMs)
  if redis.call('EXISTS', KEYS[9]) == 0 then
    redis.call('HSET', KEYS[9], 'token', redis.call('GET', KEYS[14]), 'owner', id, 'holder', holder, 'since', since)
  end
  redis.call('PEXPIRE', KEYS[9], leaseMs)
end

local function grant_lock(id, prefix, since, leaseMs)
  local token = take_lock(KEYS[9], KEYS[10], id, holder_of(prefix, id), since, leaseMs)
  redis.call('SET', prefix .. 'holds:' .. id, token)
end

-- Free slots to the lock holders waiting for one, in the order they came.
local function fill_slots(limit, nowMs, leaseMs)
  local admitted = {}
  while redis.call('ZCARD', KEYS[12]) < tonumber(limit) do
    local nextId = redis.call('LPOP', KEYS[13])
    if not nextId then break end
    redis.call('ZADD', KEYS[12], nowMs + leaseMs, nextId)
    table.insert(admitted, nextId)
  end
  return admitted
end

-- Frees what the deployment holds (its lock only while its token holds it), gives a free lock
-- to the next deployment waiting for the cluster, and fills free slots. Answers who may start.
local function free_all(id, limit, since, leaseMs, nowMs, prefix)
  local mine = redis.call('GET', KEYS[14])
  redis.call('ZREM', KEYS[12], id)
  redis.call('LREM', KEYS[13], 0, id)
  redis.call('LREM', KEYS[11], 0, id)
  redis.call('DEL', KEYS[14])
  local token = redis.call('HGET', KEYS[9], 'token')
  if (mine and token == mine) or redis.call('HGET', KEYS[9], 'owner') == id then
    redis.call('DEL', KEYS[9])
    token = false
  end
  if not token then
    local nextSame = redis.call('LPOP', KEYS[11])
    if nextSame then
      grant_lock(nextSame, prefix, since, leaseMs)
      redis.call('RPUSH', KEYS[13], nextSame)
    end
  end
  return fill_slots(limit, nowMs, leaseMs)
end

local function has_slot_free(limit)
  return redis.call('ZCARD', KEYS[12]) < tonumber(limit) and redis.call('LLEN', KEYS[13]) == 0
end
