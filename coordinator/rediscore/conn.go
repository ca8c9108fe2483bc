package rediscore

import "context"

// Conn is how a Coordinator talks to Redis: a *Client, this package's own
// small client, or an adapter of another one (coordinator/rediscoord adapts a
// go-redis client). Its methods must be safe for concurrent use.
type Conn interface {
	// Eval runs script on keys and args: EVALSHA, and EVAL when the
	// server does not hold the script (NOSCRIPT). It returns the reply in
	// RESP2's types: int64 for an integer, string for a status or a bulk
	// string, nil for a nil bulk string or array (Lua's false), []any for
	// an array. An error reply is an error; an error never holds args,
	// which may be secrets.
	Eval(ctx context.Context, script *Script, keys []string, args ...string) (any, error)
	// Subscribe subscribes to channel, on a connection of its own, and
	// returns once Redis confirmed the subscription.
	Subscribe(ctx context.Context, channel string) (Subscription, error)
}

// Subscription is a subscription to one channel.
type Subscription interface {
	// Messages receives a value for each message published on the
	// channel (several may arrive as one); it is closed when the
	// subscription breaks (and may be, after Close).
	Messages() <-chan struct{}
	// Close ends the subscription.
	Close() error
}

// A PayloadSubscription is a Subscription that keeps the payload of the
// last message it received. The coordinator's scripts announce the
// family's generation, lease and in-flight mark after each change (never
// its pair; see the package documentation), and a Coordinator whose
// subscription is one knows from the announcement whether a Wait ends and
// whether it must read the family: a newer generation is read once for
// all its Waits; a release of the lease on a generation whose pair it
// holds, or its own publish, is not read at all. This package's Client's
// subscriptions and coordinator/rediscoord's are.
type PayloadSubscription interface {
	Subscription
	// LastPayload returns the payload of the last message received, and
	// false before the first. It is set before Messages signals it.
	LastPayload() (string, bool)
}
