// Package rediscore implements session.Coordinator on Redis, so that the
// processes of one OAuth2 client on several hosts share one refresh-token
// family: at most one of them refreshes at a time, and the others adopt the
// pair it publishes.
//
// It holds the coordinator's one implementation — its Lua scripts, its
// reading of the family, its wait — on a small interface, Conn, and a
// small client that speaks Redis's protocol itself (Client, RESP2 to one
// primary, optionally over TLS), so that the core module and the authfsm
// command (`authfsm agent` with `store: {redis: …}`) need no Redis
// library. Programs that use go-redis give the same Coordinator their
// client through coordinator/rediscoord, a module of its own.
//
//	client, err := rediscore.NewClient(rediscore.Options{Addr: "redis.internal:6379"})
//	…
//	s, err := session.New(ctx, refresher, token,
//		session.WithCoordinator(rediscore.New(client, "authfsm:family:{billing}")))
//
// # Data layout
//
// For the key K given to New, a family is three names on one Redis primary:
//
//   - K+":state", a hash: the published pair (fields access_token,
//     refresh_token, token_type, issued, expiry, scope, and extra, the
//     pair's Extra members as a JSON object (an id_token), when it has
//     any; the secrets in clear: the store is where they belong, as in
//     session.FileStore's file), its generation, and the in-flight mark
//     (in_flight_holder, in_flight_generation, in_flight_at);
//   - K+":lease", a string holding the lease holder's nonce, written with
//     the semantics of SET K:lease nonce NX PX ttl, so Redis itself lets it
//     lapse;
//   - K+":changes", a pub/sub channel on which Publish and Release announce
//     a change, with what the change left of the family but its pair: the
//     generation, the lease (holder, time left) and the in-flight mark.
//     An announcement never carries a token, nor the pair's Extra members:
//     a channel is not covered by the hash's ACL (any client allowed to
//     subscribe reads every message), and monitoring may log what it
//     carries. A Coordinator keeps one subscription to it, which all its
//     Waits share (one connection, no SUBSCRIBE per Wait), from its first
//     Wait until it has not waited for DefaultSubscriptionIdle, or Close.
//
// One refresh costs the process that makes it four scripts (read; acquire,
// which reads the family too; mark; publish): its own waits, woken by its
// publish, hold the pair it published. A process that meets its lease runs
// two: the read that finds the lease (its Wait then blocks without a read,
// the reply having come while subscribed) and, woken by the publish's
// announcement of a newer generation, one read of the new pair. That read
// is the coordinator's, not the Wait's: every Wait of one Coordinator woken
// by the same announcement — the sessions of one process that share it —
// takes the pair from one read. A release of the lease on a generation
// whose pair the coordinator holds wakes its Waits without a read.
//
// Every operation that reads and then writes is one Lua script, run with
// EVALSHA (EVAL when the server does not hold it yet), and so atomic on the
// primary. The scripts take their time from
// Redis's TIME, so InFlight.At, Lease.Until and Family.Now are on the
// server's clock and processes whose clocks disagree still agree on a lease.
// The scripts need Redis 5 or later (or a server such as Valkey that
// replicates script effects).
//
// # Choosing the key
//
// One key per token family: the processes that share one refresh token use
// the same key, and two families never share one. Derive it from what names
// the family, for instance the token endpoint, the client id and the
// resource owner, as "authfsm:family:" followed by an id or a hash of those.
// Never put a token or a hash of one into the key: keys show up in
// MONITOR, SLOWLOG and metrics, and a rotating token would change the key
// anyway. On Redis Cluster the family's keys must share a hash slot, so put
// the id in braces, as in "authfsm:family:{<id>}".
//
// # The lease's length
//
// A lease must outlast one refresh: make it at least the refresh request's
// timeout plus a margin for the round trips to Redis and for a pause of the
// process (say the timeout plus a few seconds). A lease shorter than the
// request lets a second process take over and present the same refresh
// token while the first request is still running, which is the reuse the
// lease exists to avoid.
//
// # Why one primary and not Redlock
//
// Redlock (a majority of independent Redis nodes) would make the lease
// survive the loss of a node, but, as Martin Kleppmann showed in "How to do
// distributed locking" (2016), no lease without fencing can stop a holder
// that was paused (a GC pause, a stopped VM, a slow network) past its lapse
// and then goes on as if it still held it; only the resource can refuse a
// stale holder, by checking a fencing token. Here the resource that matters
// is the authorization server, which checks no fence of ours. So the lease
// is an optimisation: it keeps processes from wasting refreshes and from
// presenting the same refresh token at once. What guards our own store is
// the compare-and-swap on the generation in Publish, which holds whatever
// the lease did; the in-flight mark tells a process that takes over that a
// refresh token may have been spent. Neither needs more than one primary,
// and if the primary fails over and loses the last writes, the worst case is
// the one the session handles anyway: a refresh token that the server
// rotated away.
//
// # Errors
//
// Errors from Redis (connection failures, timeouts) are returned wrapped,
// with "rediscore:" and the operation in front, and never hold a
// token: an error whose text would contain one of the secrets being
// published has them replaced by their redacted form. A family whose hash
// holds a value the coordinator cannot read (a generation that is not a
// number, an expiry that is not a time, a lease without an expiry) gives a
// *CorruptError naming the key and the field, never a panic.
package rediscore
