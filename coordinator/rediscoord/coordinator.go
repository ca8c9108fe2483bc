package rediscoord

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/coordinator/rediscore"
)

// Coordinator is a session.Coordinator on one Redis primary for one token
// family (rediscore.Coordinator). It is safe for concurrent use.
type Coordinator = rediscore.Coordinator

// An Option configures a Coordinator.
type Option = rediscore.Option

// CorruptError says that the family's data in Redis holds a value the
// coordinator cannot read (rediscore.CorruptError).
type CorruptError = rediscore.CorruptError

// DefaultPollInterval is how often Wait reads the family when no
// announcement arrives, before jitter.
const DefaultPollInterval = rediscore.DefaultPollInterval

// WithPollInterval sets how often Wait reads the family when no
// announcement arrives (DefaultPollInterval if d is not positive). Each
// wait varies by ±20 % at random.
func WithPollInterval(d time.Duration) Option { return rediscore.WithPollInterval(d) }

// DefaultSubscriptionIdle is how long a Coordinator keeps the subscription
// its Waits share after the last of them returned.
const DefaultSubscriptionIdle = rediscore.DefaultSubscriptionIdle

// WithSubscriptionIdle sets how long the coordinator keeps its subscription
// once no Wait uses it (DefaultSubscriptionIdle if d is not positive).
func WithSubscriptionIdle(d time.Duration) Option { return rediscore.WithSubscriptionIdle(d) }

// WithJitterSeed seeds the random source of the poll interval's jitter, for
// reproducible runs; by default it is seeded at random.
func WithJitterSeed(seed uint64) Option { return rediscore.WithJitterSeed(seed) }

// New returns the Coordinator of the family whose names start with key (see
// rediscore's documentation for how to choose it) on client, which must
// reach one Redis primary (or a cluster, with a hash tag in key). It panics
// if client is nil or key is empty.
func New(client goredis.UniversalClient, key string, opts ...Option) *Coordinator {
	if client == nil {
		panic("rediscoord: New with a nil client")
	}
	if key == "" {
		panic("rediscoord: New with an empty key")
	}
	return rediscore.New(Conn(client), key, opts...)
}

// Conn adapts client to rediscore.Conn.
func Conn(client goredis.UniversalClient) rediscore.Conn { return conn{client} }

type conn struct{ c goredis.UniversalClient }

// Eval runs the script with go-redis's EVALSHA-then-EVAL; a nil reply is
// nil, not goredis.Nil.
func (c conn) Eval(ctx context.Context, s *rediscore.Script, keys []string, args ...string) (any, error) {
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	v, err := c.c.EvalSha(ctx, s.SHA1, keys, argv...).Result()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		v, err = c.c.Eval(ctx, s.Src, keys, argv...).Result()
	}
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	return v, err
}

// Subscribe subscribes through go-redis, which reconnects a broken
// subscription by itself.
func (c conn) Subscribe(ctx context.Context, channel string) (rediscore.Subscription, error) {
	sub := c.c.Subscribe(ctx, channel)
	if _, err := sub.Receive(ctx); err != nil {
		sub.Close()
		return nil, err
	}
	s := &subscription{sub: sub, msgs: make(chan struct{}, 1)}
	go s.forward(sub.Channel())
	return s, nil
}

type subscription struct {
	sub  *goredis.PubSub
	msgs chan struct{}
	last atomic.Pointer[string]
}

var _ rediscore.PayloadSubscription = (*subscription)(nil)

func (s *subscription) Messages() <-chan struct{} { return s.msgs }

// LastPayload implements rediscore.PayloadSubscription.
func (s *subscription) LastPayload() (string, bool) {
	if p := s.last.Load(); p != nil {
		return *p, true
	}
	return "", false
}

func (s *subscription) Close() error { return s.sub.Close() }

// forward signals every message until go-redis closes ch (on Close).
func (s *subscription) forward(ch <-chan *goredis.Message) {
	defer close(s.msgs)
	for m := range ch {
		p := m.Payload
		s.last.Store(&p)
		select {
		case s.msgs <- struct{}{}:
		default:
		}
	}
}
