// Package rediscoord implements session.Coordinator on a go-redis client,
// so that the processes of one OAuth2 client on several hosts share one
// refresh-token family: at most one of them refreshes at a time, and the
// others adopt the pair it publishes.
//
// The coordinator itself — its Lua scripts, its data layout in Redis, its
// wait, its errors — is rediscore's (github.com/authfsm/authfsm/coordinator/rediscore),
// in the core module, whose own small client `authfsm agent` uses; read
// its documentation for the data layout, how to choose the key and how
// long a lease should be. This package gives that Coordinator a go-redis
// client (a cluster or sentinel client included, with its pool, retries
// and TLS), and lives in its own module
// (github.com/authfsm/authfsm/coordinator/rediscoord) so that the core module
// does not depend on go-redis. Processes using either client share a
// family: the keys, fields and scripts are the same.
package rediscoord
