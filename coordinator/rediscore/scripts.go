package rediscore

import (
	"crypto/sha1"
	"encoding/hex"
)

// A Script is one of the coordinator's Lua scripts: its source and the
// SHA-1 by which EVALSHA names it.
type Script struct {
	// Src is the script's source.
	Src string
	// SHA1 is the hex SHA-1 of Src.
	SHA1 string
}

func newScript(src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{Src: src, SHA1: hex.EncodeToString(sum[:])}
}

// The fields of the family's hash.
const (
	fieldGeneration = "generation"
	fieldAccess     = "access_token"
	fieldRefresh    = "refresh_token"
	fieldType       = "token_type"
	fieldIssued     = "issued"
	fieldExpiry     = "expiry"
	fieldScope      = "scope"
	fieldExtra      = "extra" // the pair's Extra members, a JSON object
	fieldFlHolder   = "in_flight_holder"
	fieldFlGen      = "in_flight_generation"
	fieldFlAt       = "in_flight_at"
)

// prelude opens every script. It asks Redis before 5 to replicate the
// script's effects rather than the script (TIME is not deterministic), and
// defines now_us: the server's TIME as a decimal count of microseconds,
// built from TIME's two strings without passing through a Lua number,
// which would print a 16-digit count in exponent form; and announce,
// which publishes what a change left of the family on a channel (see
// below): the hash's generation and mark fields by name, never its pair.
const prelude = `
if redis.replicate_commands then redis.replicate_commands() end
local function now_us()
  local t = redis.call('TIME')
  return t[1] .. string.sub('000000' .. t[2], -6)
end
local function announce(channel)
  local names = {'` + fieldGeneration + `', '` + fieldFlHolder + `', '` + fieldFlGen + `', '` + fieldFlAt + `'}
  local v = redis.call('HMGET', KEYS[1], unpack(names))
  local h = {}
  for i, name in ipairs(names) do
    if v[i] then
      h[#h + 1] = name
      h[#h + 1] = v[i]
    end
  end
  redis.call('PUBLISH', channel, cjson.encode({now_us(), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2]), h}))
end
`

// Every script takes KEYS[1] = the family's hash, KEYS[2] = its lease.

// readScript returns {now, lease holder or false, lease PTTL, HGETALL}.
var readScript = newScript(prelude + `
local h = redis.call('HGETALL', KEYS[1])
local holder = redis.call('GET', KEYS[2])
local pttl = redis.call('PTTL', KEYS[2])
return {now_us(), holder, pttl, h}
`)

// acquireScript takes the lease for ARGV[1] for ARGV[2] milliseconds when
// it is free or ARGV[1] holds it, and, unless ARGV[3] is "", the family's
// generation is ARGV[3]; it returns what readScript returns after it, and
// 1 when it took the lease, else 0: {now, lease holder, lease PTTL,
// HGETALL, took}.
var acquireScript = newScript(prelude + `
local now = now_us()
local cur = redis.call('GET', KEYS[2])
local took = 0
local gen = redis.call('HGET', KEYS[1], '` + fieldGeneration + `')
if gen == false then gen = '0' end
if (cur == false or cur == ARGV[1]) and (ARGV[3] == '' or gen == ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  took = 1
end
local h = redis.call('HGETALL', KEYS[1])
return {now, redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2]), h, took}
`)

// markScript marks generation ARGV[2] in flight for ARGV[1] and returns 1,
// or returns 0 when ARGV[1] does not hold the lease.
var markScript = newScript(prelude + `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], '` + fieldFlGen + `') == ARGV[2] then
  redis.call('HSET', KEYS[1], '` + fieldFlHolder + `', ARGV[1])
else
  redis.call('HSET', KEYS[1], '` + fieldFlHolder + `', ARGV[1], '` + fieldFlGen + `', ARGV[2], '` + fieldFlAt + `', now_us())
end
return 1
`)

// An announcement on the family's channel (announce) is what a change left
// of the family but its pair, in JSON: [now, lease holder or false, lease
// PTTL, the hash's generation and in-flight fields as an array of names and
// values, or {} when it has none]. It never carries a token: whoever may
// subscribe to the channel, or logs what it carries, learns no secret. A
// process that listens takes the family from it when it holds the pair of
// the generation announced, and reads it once otherwise.

// publishScript stores the pair ARGV[3..8] and its Extra members ARGV[10]
// (a JSON object, or "" for none) when the generation is ARGV[2], clears
// the in-flight mark, deletes the lease if ARGV[1] holds it, announces on
// channel ARGV[9] and returns {1, new generation}; when the generation is
// another, it returns {0, the stored generation}.
var publishScript = newScript(prelude + `
local cur = redis.call('HGET', KEYS[1], '` + fieldGeneration + `')
if cur == false then cur = '0' end
if cur ~= ARGV[2] then return {0, cur} end
local n = redis.call('HINCRBY', KEYS[1], '` + fieldGeneration + `', 1)
redis.call('HSET', KEYS[1], '` + fieldAccess + `', ARGV[3], '` + fieldRefresh + `', ARGV[4],
  '` + fieldType + `', ARGV[5], '` + fieldIssued + `', ARGV[6], '` + fieldExpiry + `', ARGV[7], '` + fieldScope + `', ARGV[8])
if ARGV[10] ~= nil and ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], '` + fieldExtra + `', ARGV[10])
else
  redis.call('HDEL', KEYS[1], '` + fieldExtra + `')
end
redis.call('HDEL', KEYS[1], '` + fieldFlHolder + `', '` + fieldFlGen + `', '` + fieldFlAt + `')
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
announce(ARGV[9])
return {1, n}
`)

// releaseScript deletes the lease if ARGV[1] holds it and, when ARGV[2] is
// "0", clears the in-flight mark if it is ARGV[1]'s; it announces on
// channel ARGV[3] when it changed anything, and returns 1 then, else 0.
var releaseScript = newScript(prelude + `
local changed = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  changed = 1
end
if ARGV[2] == '0' and redis.call('HGET', KEYS[1], '` + fieldFlHolder + `') == ARGV[1] then
  redis.call('HDEL', KEYS[1], '` + fieldFlHolder + `', '` + fieldFlGen + `', '` + fieldFlAt + `')
  changed = 1
end
if changed == 1 then announce(ARGV[3]) end
return changed
`)
