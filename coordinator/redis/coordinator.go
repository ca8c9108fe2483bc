package rediscoord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/states"
)

// DefaultPollInterval is how often Wait reads the family when no
// announcement arrives, before jitter.
const DefaultPollInterval = time.Second

// jitter is the fraction by which Wait's poll interval varies either way,
// so that the waiters of a fleet do not poll in step.
const jitter = 0.2

// Coordinator is a session.Coordinator on one Redis primary for one token
// family. It is safe for concurrent use.
type Coordinator struct {
	client  goredis.UniversalClient
	key     string
	keys    []string // the family's hash and its lease
	channel string
	poll    time.Duration

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	// waiting, when set (by tests), is called each time Wait is about to
	// block, after a read that did not end the wait.
	waiting func()
}

var _ session.Coordinator = (*Coordinator)(nil)

// An Option configures a Coordinator.
type Option func(*Coordinator)

// WithPollInterval sets how often Wait reads the family when no
// announcement arrives (DefaultPollInterval if d is not positive). Each
// wait varies by ±20 % at random.
func WithPollInterval(d time.Duration) Option {
	return func(c *Coordinator) {
		if d > 0 {
			c.poll = d
		}
	}
}

// WithJitterSeed seeds the random source of the poll interval's jitter, for
// reproducible runs; by default it is seeded at random.
func WithJitterSeed(seed uint64) Option {
	return func(c *Coordinator) { c.rng = rand.New(states.NewRand(seed)) }
}

// New returns the Coordinator of the family whose names start with key (see
// the package documentation for how to choose it) on client, which must
// reach one Redis primary (or a cluster, with a hash tag in key). It panics
// if client is nil or key is empty.
func New(client goredis.UniversalClient, key string, opts ...Option) *Coordinator {
	if client == nil {
		panic("rediscoord: New with a nil client")
	}
	if key == "" {
		panic("rediscoord: New with an empty key")
	}
	c := &Coordinator{
		client:  client,
		key:     key,
		keys:    []string{key + ":state", key + ":lease"},
		channel: key + ":changes",
		poll:    DefaultPollInterval,
	}
	for _, o := range opts {
		o(c)
	}
	if c.rng == nil {
		c.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return c
}

// Read implements session.Coordinator.
func (c *Coordinator) Read(ctx context.Context) (session.Family, error) {
	v, err := readScript.Run(ctx, c.client, c.keys).Slice()
	if err != nil {
		return session.Family{}, c.fail("read", err)
	}
	if len(v) != 4 {
		return session.Family{}, c.unexpected("read")
	}
	now, ok := micros(v[0])
	if !ok {
		return session.Family{}, c.unexpected("read")
	}
	f := session.Family{Now: now}
	if holder, ok := v[1].(string); ok {
		pttl, ok := v[2].(int64)
		if !ok {
			return session.Family{}, c.unexpected("read")
		}
		if f.Lease, err = c.lease(holder, pttl, now); err != nil {
			return session.Family{}, err
		}
	}
	flat, ok := v[3].([]any)
	if !ok || len(flat)%2 != 0 {
		return session.Family{}, c.unexpected("read")
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		val, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return session.Family{}, c.unexpected("read")
		}
		h[k] = val
	}
	if err := c.parseFamily(h, &f); err != nil {
		return session.Family{}, err
	}
	return f, nil
}

// lease makes the Lease of holder with pttl milliseconds left at now.
func (c *Coordinator) lease(holder string, pttl int64, now time.Time) (session.Lease, error) {
	switch {
	case holder == "":
		return session.Lease{}, &CorruptError{Key: c.keys[1], Reason: "the lease names no holder"}
	case pttl == -1:
		return session.Lease{}, &CorruptError{Key: c.keys[1], Reason: "the lease has no expiry"}
	case pttl < 0: // gone meanwhile
		return session.Lease{}, nil
	}
	return session.Lease{Holder: holder, Until: now.Add(time.Duration(pttl) * time.Millisecond)}, nil
}

// Acquire implements session.Coordinator. The lease's length is ttl rounded
// up to a millisecond; ttl must be at least one.
func (c *Coordinator) Acquire(ctx context.Context, holder string, ttl time.Duration) (session.Lease, bool, error) {
	if holder == "" {
		return session.Lease{}, false, errors.New("redis coordinator: acquire: empty holder")
	}
	if ttl < time.Millisecond {
		return session.Lease{}, false, fmt.Errorf("redis coordinator: acquire: lease of %v is shorter than a millisecond", ttl)
	}
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	v, err := acquireScript.Run(ctx, c.client, c.keys, holder, ms).Slice()
	if err != nil {
		return session.Lease{}, false, c.fail("acquire", err)
	}
	if len(v) != 4 {
		return session.Lease{}, false, c.unexpected("acquire")
	}
	took, ok1 := v[0].(int64)
	cur, ok2 := v[1].(string)
	left, ok3 := integer(v[2])
	now, ok4 := micros(v[3])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return session.Lease{}, false, c.unexpected("acquire")
	}
	l, err := c.lease(cur, left, now)
	if err != nil {
		return session.Lease{}, false, err
	}
	return l, took == 1, nil
}

// MarkInFlight implements session.Coordinator. The mark's time is the
// server's.
func (c *Coordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	if holder == "" {
		return errors.New("redis coordinator: mark in flight: empty holder")
	}
	n, err := markScript.Run(ctx, c.client, c.keys, holder, strconv.FormatUint(gen, 10)).Int64()
	if err != nil {
		return c.fail("mark in flight", err)
	}
	if n != 1 {
		return session.ErrLeaseLost
	}
	return nil
}

// Publish implements session.Coordinator. It stores the pair's secrets in
// clear in the family's hash; no error it returns contains them.
func (c *Coordinator) Publish(ctx context.Context, holder string, gen uint64, pair session.Token) (uint64, error) {
	var extra string
	if m := pair.ExtraMembers(); m != nil {
		b, err := json.Marshal(m)
		if err != nil {
			return 0, fmt.Errorf("redis coordinator: publish %s: the pair's Extra members are not JSON: %w", c.key, err)
		}
		extra = string(b)
	}
	v, err := publishScript.Run(ctx, c.client, c.keys, holder, strconv.FormatUint(gen, 10),
		pair.Access.Reveal(), pair.Refresh.Reveal(), pair.Type,
		formatTime(pair.Issued), formatTime(pair.Expiry), pair.Scope, c.channel, extra).Slice()
	if err != nil {
		return 0, c.fail("publish", err, pair.Access, pair.Refresh, session.Secret(extra))
	}
	if len(v) != 2 {
		return 0, c.unexpected("publish")
	}
	done, ok := v[0].(int64)
	if !ok {
		return 0, c.unexpected("publish")
	}
	if done == 1 {
		n, ok := v[1].(int64)
		if !ok || n < 1 {
			return 0, c.unexpected("publish")
		}
		return uint64(n), nil
	}
	s, ok := v[1].(string)
	if !ok {
		return 0, c.unexpected("publish")
	}
	got, ok := parseGeneration(s)
	if !ok {
		return 0, c.corrupt(fieldGeneration, "not a generation (a decimal integer)")
	}
	return 0, &session.GenerationError{Want: gen, Got: got}
}

// Release implements session.Coordinator.
func (c *Coordinator) Release(ctx context.Context, holder string, spent bool) error {
	s := "0"
	if spent {
		s = "1"
	}
	if err := releaseScript.Run(ctx, c.client, c.keys, holder, s, c.channel).Err(); err != nil {
		return c.fail("release", err)
	}
	return nil
}

// Wait implements session.Coordinator. It subscribes to the family's
// channel (on a connection of its own, for the length of the call) and
// reads the family whenever a change is announced, and otherwise every
// poll interval, varied by ±20 %. When ctx ends it returns the family as
// last read and ctx.Err().
func (c *Coordinator) Wait(ctx context.Context, gen uint64) (session.Family, error) {
	if err := ctx.Err(); err != nil {
		return session.Family{}, err
	}
	// Subscribe before the first read, so no announcement falls between.
	sub := c.client.Subscribe(ctx, c.channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return session.Family{}, ctx.Err()
		}
		return session.Family{}, c.fail("wait: subscribe", err)
	}
	changes := sub.Channel()
	var last session.Family
	for {
		f, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return session.Family{}, err
		}
		if f.Generation != gen || !f.Lease.Held(f.Now) {
			return f, nil
		}
		last = f
		if c.waiting != nil {
			c.waiting()
		}
		t := time.NewTimer(c.pollDelay())
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-changes:
			t.Stop()
			drain(changes) // one read answers every announcement so far
		case <-t.C:
		}
	}
}

// drain empties ch without blocking.
func drain(ch <-chan *goredis.Message) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// pollDelay is the poll interval varied at random by ±jitter.
func (c *Coordinator) pollDelay() time.Duration {
	c.mu.Lock()
	r := c.rng.Float64()
	c.mu.Unlock()
	return time.Duration(float64(c.poll) * (1 - jitter + 2*jitter*r))
}
