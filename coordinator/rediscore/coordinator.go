package rediscore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

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
//
// Its Waits share one subscription to the family's channel, on a
// connection of its own (Conn.Subscribe), opened by the first Wait and
// kept while the coordinator waits and DefaultSubscriptionIdle after (see
// WithSubscriptionIdle), so that a wait costs no new connection and no
// SUBSCRIBE. Close ends it at once.
type Coordinator struct {
	conn    Conn
	key     string
	keys    []string // the family's hash and its lease
	channel string
	poll    time.Duration

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	ann announcements // the subscription every Wait shares (subscription.go)

	// waiting, when set (by tests), is called each time Wait (lease
	// true) or WaitGeneration is about to block, after a read that did not
	// end the wait.
	waiting func(lease bool)
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
// the package documentation for how to choose it) on conn, which must
// reach one Redis primary (or a cluster, with a hash tag in key): a
// *Client, or coordinator/rediscoord's adapter of a go-redis client. It panics
// if conn is nil or key is empty.
func New(conn Conn, key string, opts ...Option) *Coordinator {
	if conn == nil {
		panic("rediscore: New with a nil Conn")
	}
	if key == "" {
		panic("rediscore: New with an empty key")
	}
	c := &Coordinator{
		conn:    conn,
		key:     key,
		keys:    []string{key + ":state", key + ":lease"},
		channel: key + ":changes",
		poll:    DefaultPollInterval,
	}
	c.ann.idle = DefaultSubscriptionIdle
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
	epoch := c.epochNow()
	v, err := slice(c.conn.Eval(ctx, readScript, c.keys))
	if err != nil {
		return session.Family{}, c.fail("read", err)
	}
	if len(v) != 4 {
		return session.Family{}, c.unexpected("read")
	}
	f, err := c.family(v, "read")
	if err != nil {
		return session.Family{}, err
	}
	c.remember(f, epoch)
	return f, nil
}

// family reads {now, lease holder or false, lease PTTL, HGETALL}, the
// start of a reply to readScript or acquireScript, as op's.
func (c *Coordinator) family(v []any, op string) (session.Family, error) {
	now, ok := micros(v[0])
	if !ok {
		return session.Family{}, c.unexpected(op)
	}
	f := session.Family{Now: now}
	if holder, ok := v[1].(string); ok {
		pttl, ok := v[2].(int64)
		if !ok {
			return session.Family{}, c.unexpected(op)
		}
		var err error
		if f.Lease, err = c.lease(holder, pttl, now); err != nil {
			return session.Family{}, err
		}
	}
	flat, ok := v[3].([]any)
	if !ok || len(flat)%2 != 0 {
		return session.Family{}, c.unexpected(op)
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		val, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return session.Family{}, c.unexpected(op)
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
	f, ok, err := c.acquire(ctx, holder, ttl, "")
	return f.Lease, ok, err
}

// AcquireFamily implements session.FamilyAcquirer: Acquire while the
// generation is gen, reading the family in the same script.
func (c *Coordinator) AcquireFamily(ctx context.Context, holder string, ttl time.Duration, gen uint64) (session.Family, bool, error) {
	return c.acquire(ctx, holder, ttl, strconv.FormatUint(gen, 10))
}

// acquire is Acquire, and with a generation (not "") AcquireFamily.
func (c *Coordinator) acquire(ctx context.Context, holder string, ttl time.Duration, gen string) (session.Family, bool, error) {
	if holder == "" {
		return session.Family{}, false, errors.New("rediscore: acquire: empty holder")
	}
	if ttl < time.Millisecond {
		return session.Family{}, false, fmt.Errorf("rediscore: acquire: lease of %v is shorter than a millisecond", ttl)
	}
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	epoch := c.epochNow()
	v, err := slice(c.conn.Eval(ctx, acquireScript, c.keys, holder, strconv.FormatInt(ms, 10), gen))
	if err != nil {
		return session.Family{}, false, c.fail("acquire", err)
	}
	if len(v) != 5 {
		return session.Family{}, false, c.unexpected("acquire")
	}
	took, ok := v[4].(int64)
	if !ok {
		return session.Family{}, false, c.unexpected("acquire")
	}
	f, err := c.family(v, "acquire")
	if err != nil {
		return session.Family{}, false, err
	}
	if took == 1 && f.Lease.Holder != holder {
		return session.Family{}, false, c.unexpected("acquire")
	}
	c.remember(f, epoch)
	return f, took == 1, nil
}

// MarkInFlight implements session.Coordinator. The mark's time is the
// server's.
func (c *Coordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	if holder == "" {
		return errors.New("rediscore: mark in flight: empty holder")
	}
	v, err := c.conn.Eval(ctx, markScript, c.keys, holder, strconv.FormatUint(gen, 10))
	if err != nil {
		return c.fail("mark in flight", err)
	}
	n, ok := v.(int64)
	if !ok {
		return c.unexpected("mark in flight")
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
			return 0, fmt.Errorf("rediscore: publish %s: the pair's Extra members are not JSON: %w", c.key, err)
		}
		extra = string(b)
	}
	defer c.publishing(gen + 1)()
	v, err := slice(c.conn.Eval(ctx, publishScript, c.keys, holder, strconv.FormatUint(gen, 10),
		pair.Access.Reveal(), pair.Refresh.Reveal(), pair.Type,
		formatTime(pair.Issued), formatTime(pair.Expiry), pair.Scope, c.channel, extra))
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
		c.knowPair(uint64(n), pair) // its announcement needs no read
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
	if _, err := c.conn.Eval(ctx, releaseScript, c.keys, holder, s, c.channel); err != nil {
		return c.fail("release", err)
	}
	return nil
}

// Wait implements session.Coordinator. It listens to the family's channel
// on the coordinator's subscription (see Coordinator); an announcement of
// a change says the family's generation, lease and mark but never its pair
// (see the package documentation), so a Wait woken by a newer generation
// reads the family once, a read that the coordinator's Waits woken by the
// same announcement share, and one woken by its own publish or by a change
// of the lease reads nothing. It reads the family when the lease it waits
// for lapses, and otherwise every poll interval, varied by ±20 %; should
// the subscription break, it goes on polling. It reads nothing before it
// blocks when the coordinator's last read (Read, Acquire) or announcement
// came while subscribed and nothing was announced since. When ctx ends it
// returns the family as last seen and ctx.Err().
func (c *Coordinator) Wait(ctx context.Context, gen uint64) (session.Family, error) {
	return c.wait(ctx, gen, true)
}

// WaitGeneration implements session.GenerationWaiter: it returns when the
// generation differs from gen, woken by the announcements and polling as
// Wait does, or when ctx ends.
func (c *Coordinator) WaitGeneration(ctx context.Context, gen uint64) (session.Family, error) {
	return c.wait(ctx, gen, false)
}

// wait is Wait, and with lease false WaitGeneration.
func (c *Coordinator) wait(ctx context.Context, gen uint64, lease bool) (session.Family, error) {
	if err := ctx.Err(); err != nil {
		return session.Family{}, err
	}
	// Listen before the first read, so that no announcement falls between.
	changes := c.listen()
	defer c.unlisten(changes)
	if err := c.subscribe(ctx); err != nil {
		if ctx.Err() != nil {
			return session.Family{}, ctx.Err()
		}
		return session.Family{}, c.fail("wait: subscribe", err)
	}
	done := func(f session.Family) bool { return f.Generation != gen || lease && !f.Lease.Held(f.Now) }
	// What the coordinator last read or was announced serves while it is
	// still the family's (recall), to block on: no read. It ends the wait
	// only when announced: a lease taken since would not be.
	last, fresh, whole := c.recall()
	fresh = fresh && !done(last)
	for {
		switch {
		case fresh && !done(last): // block on what the coordinator knows
		case fresh && whole: // announced, with the pair the coordinator holds
			return last, nil
		default:
			var f session.Family
			var err error
			if fresh {
				f, err = c.readShared(ctx, last.Generation) // announced: the pair is read
			} else {
				f, err = c.Read(ctx)
			}
			if err != nil {
				if ctx.Err() != nil {
					return last, ctx.Err()
				}
				return session.Family{}, err
			}
			if done(f) {
				return f, nil
			}
			last = f
		}
		if c.waiting != nil {
			c.waiting(lease)
		}
		pause := c.pollDelay()
		if lease {
			pause = min(pause, last.Lease.Until.Sub(last.Now))
		}
		t := time.NewTimer(max(pause, 0))
		announced := false
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-changes:
			t.Stop()
			drain(changes) // one look answers every announcement so far
			announced = true
		case <-t.C: // a poll: for what changes unannounced
		}
		c.subscribe(ctx) // again, if it broke: meanwhile the polls stand in
		fresh = false
		if f, ok, w := c.recall(); ok && announced {
			last, fresh, whole = f, true, w // the announcement said what changed
		}
	}
}

// drain empties ch without blocking.
func drain(ch <-chan struct{}) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
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
