-- pushpoll publish: raise a topic's version and announce it, in one round trip.
--
-- KEYS[1]  the topic's key, which is also its channel: <prefix><topic>
-- ARGV[1]  the new version, a positive decimal integer (int64)
-- ARGV[2]  the payload to PUBLISH, e.g. {"v":1057,"ts":1700000000000}
-- ARGV[3]  optional: SPUBLISH to announce on the sharded channel (Redis
--          Cluster, where key and channel share a slot); PUBLISH (or empty)
--          otherwise
-- ARGV[4]  optional: the key's lifetime in whole seconds (the node's
--          --version-ttl); empty or 0 keeps the key for ever. A helper that
--          sets it passes ARGV[3] too, e.g. EVALSHA sha 1 key 1058 payload
--          PUBLISH 604800. An expired key reads as unknown, and a node with
--          --version-ttl tells a subscriber of an unknown topic to poll.
--
-- The key only ever rises: an older or equal version (a retry, a race between
-- two app servers) changes nothing and announces nothing, so browsers are
-- never hinted backwards. Returns 1 when the version was raised and
-- published, 0 when it was not newer.
--
-- Versions are compared as decimal strings (length first, then digits)
-- because Lua numbers are doubles and lose exactness above 2^53.
local new = ARGV[1]
if not string.match(new, "^[1-9][0-9]*$") or #new > 19 or (#new == 19 and new > "9223372036854775807") then
  return redis.error_reply("pushpoll: version must be a positive int64")
end
local cur = redis.call("GET", KEYS[1])
if cur and string.match(cur, "^[1-9][0-9]*$") then
  if #new < #cur or (#new == #cur and new <= cur) then
    return 0
  end
end
local ttl = ARGV[4]
if ttl and ttl ~= "" and ttl ~= "0" then
  if not string.match(ttl, "^[1-9][0-9]*$") or #ttl > 10 then
    return redis.error_reply("pushpoll: ttl must be whole seconds")
  end
  redis.call("SET", KEYS[1], new, "EX", ttl)
else
  redis.call("SET", KEYS[1], new)
end
if ARGV[3] == "SPUBLISH" then
  redis.call("SPUBLISH", KEYS[1], ARGV[2])
else
  redis.call("PUBLISH", KEYS[1], ARGV[2])
end
return 1
