--- @include "take-lock"
--- @include "deployment"
-- The sweep's reclaim of what a finished or missing deployment still holds. Answers who may start.
-- ARGV: 1 id, 2 limit, 3 now (ISO), 4 lease ms, 5 now ms, 6 prefix
return free_all(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
