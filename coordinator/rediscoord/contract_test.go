package rediscoord

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/session"
)

// contract lists the tests of the session.Coordinator contract; each runs
// on miniredis and, when one is configured, on a real redis-server.
var contract = []struct {
	name string
	run  func(*testing.T, env)
}{
	{"Acquire", testAcquire},
	{"LeaseLapseTakeover", testLeaseLapseTakeover},
	{"MarkInFlight", testMarkInFlight},
	{"Publish", testPublish},
	{"PublishExtra", testPublishExtra},
	{"Release", testRelease},
	{"WaitAtOnce", testWaitAtOnce},
	{"WaitWoken", testWaitWoken},
	{"WaitContext", testWaitContext},
	{"Corrupt", testCorrupt},
	{"NoSecretInErrors", testNoSecretInErrors},
	{"AcquireRace", testAcquireRace},
}

// TestContractMiniredis runs the contract on miniredis, through go-redis
// and through rediscore's own client.
func TestContractMiniredis(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.run(t, newMiniEnv(t, tr.conn)) })
			}
		})
	}
}

// TestContractRealRedis runs the same tests against the redis-server at
// AUTHFSM_REDIS_ADDR; it skips without one, unless AUTHFSM_REQUIRE_REDIS=1.
func TestContractRealRedis(t *testing.T) {
	addr := realAddr(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.run(t, newRealEnv(t, addr, tr.conn)) })
			}
		})
	}
}

// The fields of the family's hash, as rediscore documents them.
const (
	fieldGeneration = "generation"
	fieldIssued     = "issued"
	fieldExpiry     = "expiry"
	fieldFlHolder   = "in_flight_holder"
	fieldFlGen      = "in_flight_generation"
	fieldFlAt       = "in_flight_at"
)

// testCtx is a test's context, bounded so that a broken Wait fails the
// test instead of hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func read(t *testing.T, c *Coordinator) session.Family {
	t.Helper()
	f, err := c.Read(testCtx(t))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return f
}

func acquire(t *testing.T, c *Coordinator, holder string, ttl time.Duration) {
	t.Helper()
	if l, ok, err := c.Acquire(testCtx(t), holder, ttl); err != nil || !ok {
		t.Fatalf("Acquire(%q): %v, %v, %v", holder, l, ok, err)
	}
}

func mark(t *testing.T, c *Coordinator, holder string, gen uint64) {
	t.Helper()
	if err := c.MarkInFlight(testCtx(t), holder, gen); err != nil {
		t.Fatalf("MarkInFlight(%q, %d): %v", holder, gen, err)
	}
}

// pair is a token pair of generation n with recognisable secrets.
func pair(n int) session.Token {
	issued := time.Date(2030, 1, 2, 3, 0, 0, 987654321, time.FixedZone("X", 3600))
	t := session.Token{
		Access:  session.Secret(fmt.Sprintf("access-secret-%d-Zq9", n)),
		Refresh: session.Secret(fmt.Sprintf("refresh-secret-%d-Zq9", n)),
		Type:    "Bearer",
		Issued:  issued,
		Expiry:  issued.Add(time.Hour),
		Scope:   "read write",
	}
	if n%2 == 0 { // the even pairs carry an id_token, the odd ones nothing more
		t = t.WithExtra(map[string]any{"id_token": fmt.Sprintf("id-secret-%d-Zq9", n), "n": float64(n)})
	}
	return t
}

func samePair(a, b session.Token) bool {
	return a.Access == b.Access && a.Refresh == b.Refresh && a.Type == b.Type && a.Scope == b.Scope &&
		a.Issued.Equal(b.Issued) && a.Expiry.Equal(b.Expiry) && reflect.DeepEqual(a.ExtraMembers(), b.ExtraMembers())
}

// testAcquire: a free lease is taken, its holder extends it, another
// holder is told who holds it and for how long, and takes it once it
// lapsed.
func testAcquire(t *testing.T, e env) {
	c := e.coord()
	steps := []struct {
		name    string
		advance time.Duration // before the call
		holder  string
		ttl     time.Duration
		ok      bool
		want    string        // the lease's holder afterwards
		left    time.Duration // how long it then runs
	}{
		{"free lease is taken", 0, "a", 30 * time.Second, true, "a", 30 * time.Second},
		{"busy: holder and remaining time", 10 * time.Second, "b", 30 * time.Second, false, "a", 20 * time.Second},
		{"holder extends", 0, "a", 40 * time.Second, true, "a", 40 * time.Second},
		{"still busy", 15 * time.Second, "b", 30 * time.Second, false, "a", 25 * time.Second},
		{"lapsed lease is taken over", 25 * time.Second, "b", 30 * time.Second, true, "b", 30 * time.Second},
		{"ttl rounds up to a millisecond", 0, "b", time.Minute - 500*time.Microsecond, true, "b", time.Minute},
	}
	for _, s := range steps {
		e.advance(t, s.advance)
		l, ok, err := c.Acquire(testCtx(t), s.holder, s.ttl)
		if err != nil {
			t.Fatalf("%s: Acquire: %v", s.name, err)
		}
		f := read(t, c)
		if ok != s.ok || l.Holder != s.want || f.Lease.Holder != s.want {
			t.Errorf("%s: Acquire(%q) = %q, %v; Read's holder %q; want %q, %v", s.name, s.holder, l.Holder, ok, f.Lease.Holder, s.want, s.ok)
		}
		if left := l.Until.Sub(f.Now); !within(left, s.left, e.slack) {
			t.Errorf("%s: lease runs %v more, want %v", s.name, left, s.left)
		}
		if d := l.Until.Sub(f.Lease.Until); !within(d, 0, e.slack) {
			t.Errorf("%s: Acquire's Until %v, Read's %v", s.name, l.Until, f.Lease.Until)
		}
	}
	for _, bad := range []struct {
		holder string
		ttl    time.Duration
	}{{"", time.Second}, {"a", 0}, {"a", time.Microsecond}, {"a", -time.Second}} {
		if _, ok, err := c.Acquire(testCtx(t), bad.holder, bad.ttl); err == nil || ok {
			t.Errorf("Acquire(%q, %v) = %v, %v; want an error", bad.holder, bad.ttl, ok, err)
		}
	}
}

// testLeaseLapseTakeover: a holder that marked a refresh in flight and
// stalled past its lease loses it; the process taking over sees the mark.
func testLeaseLapseTakeover(t *testing.T, e env) {
	a, b := e.coord(), e.coord()
	acquire(t, a, "a", 30*time.Second)
	mark(t, a, "a", 0)
	e.advance(t, 30*time.Second)
	if f := read(t, b); f.Lease.Held(f.Now) {
		t.Fatalf("lease still held after it lapsed: %+v", f.Lease)
	}
	acquire(t, b, "b", 30*time.Second)
	f := read(t, b)
	if f.Lease.Holder != "b" || f.InFlight.Holder != "a" || f.InFlight.Generation != 0 {
		t.Errorf("after takeover: lease %+v, in flight %+v; want b's lease and a's mark", f.Lease, f.InFlight)
	}
	if err := a.MarkInFlight(testCtx(t), "a", 0); !errors.Is(err, session.ErrLeaseLost) {
		t.Errorf("MarkInFlight by the lapsed holder = %v, want ErrLeaseLost", err)
	}
}

// testMarkInFlight: only the lease's holder can mark, and the mark carries
// the generation and the server's time.
func testMarkInFlight(t *testing.T, e env) {
	cases := []struct {
		name  string
		setup func(*testing.T, env, *Coordinator)
		want  error
	}{
		{"holder", func(t *testing.T, _ env, c *Coordinator) { acquire(t, c, "a", time.Minute) }, nil},
		{"no lease", func(*testing.T, env, *Coordinator) {}, session.ErrLeaseLost},
		{"another's lease", func(t *testing.T, _ env, c *Coordinator) { acquire(t, c, "b", time.Minute) }, session.ErrLeaseLost},
		{"lapsed lease", func(t *testing.T, e env, c *Coordinator) {
			acquire(t, c, "a", time.Minute)
			e.advance(t, time.Minute)
		}, session.ErrLeaseLost},
		{"lapsed and taken over", func(t *testing.T, e env, c *Coordinator) {
			acquire(t, c, "a", time.Minute)
			e.advance(t, time.Minute)
			acquire(t, c, "b", time.Minute)
		}, session.ErrLeaseLost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.key += ":" + tc.name
			c := e.coord()
			t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
			tc.setup(t, e, c)
			err := c.MarkInFlight(testCtx(t), "a", 7)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("MarkInFlight = %v, want %v", err, tc.want)
			}
			f := read(t, c)
			if tc.want != nil {
				if f.InFlight != (session.InFlight{}) {
					t.Errorf("refused mark left %+v", f.InFlight)
				}
				return
			}
			if f.InFlight.Holder != "a" || f.InFlight.Generation != 7 || !within(f.Now.Sub(f.InFlight.At), 0, e.slack) {
				t.Errorf("InFlight = %+v at %v, want a's mark of generation 7 now", f.InFlight, f.Now)
			}
		})
	}
	c := e.coord()
	if err := c.MarkInFlight(testCtx(t), "", 0); err == nil || errors.Is(err, session.ErrLeaseLost) {
		t.Errorf("MarkInFlight with an empty holder = %v, want a plain error", err)
	}
}

// testPublish: the compare-and-swap on the generation.
func testPublish(t *testing.T, e env) {
	cases := []struct {
		name string
		run  func(*testing.T, env, *Coordinator, *Coordinator) // a publishes pair(1) from generation 0 at the end
		// what a's Publish then gives
		wantGen   uint64
		wantErr   *session.GenerationError
		wantLease string // holder of the lease afterwards
		wantPair  session.Token
	}{
		{
			name: "holder publishes",
			run: func(t *testing.T, _ env, a, _ *Coordinator) {
				acquire(t, a, "a", time.Minute)
				mark(t, a, "a", 0)
			},
			wantGen: 1, wantPair: pair(1),
		},
		{
			name: "after the lease lapsed and another took it",
			run: func(t *testing.T, e env, a, b *Coordinator) {
				acquire(t, a, "a", time.Minute)
				mark(t, a, "a", 0)
				e.advance(t, 2*time.Minute)
				acquire(t, b, "b", time.Minute)
			},
			wantGen: 1, wantLease: "b", wantPair: pair(1),
		},
		{
			name: "after another published",
			run: func(t *testing.T, e env, a, b *Coordinator) {
				acquire(t, a, "a", time.Minute)
				mark(t, a, "a", 0)
				e.advance(t, 2*time.Minute)
				acquire(t, b, "b", time.Minute)
				mark(t, b, "b", 0)
				if n, err := b.Publish(testCtx(t), "b", 0, pair(2)); n != 1 || err != nil {
					t.Fatalf("b's Publish = %d, %v", n, err)
				}
			},
			wantErr: &session.GenerationError{Want: 0, Got: 1}, wantPair: pair(2),
		},
		{
			name:    "without lease or mark",
			run:     func(*testing.T, env, *Coordinator, *Coordinator) {},
			wantGen: 1, wantPair: pair(1),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.key += ":" + tc.name
			t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
			a, b := e.coord(), e.coord()
			tc.run(t, e, a, b)
			n, err := a.Publish(testCtx(t), "a", 0, pair(1))
			if tc.wantErr != nil {
				var ge *session.GenerationError
				if !errors.As(err, &ge) || *ge != *tc.wantErr || !errors.Is(err, session.ErrGenerationMoved) {
					t.Fatalf("Publish = %d, %v; want %v", n, err, tc.wantErr)
				}
			} else if err != nil || n != tc.wantGen {
				t.Fatalf("Publish = %d, %v; want %d", n, err, tc.wantGen)
			}
			f := read(t, a)
			if !samePair(f.Pair, tc.wantPair) || f.Generation != 1 {
				t.Errorf("family holds %v at generation %d, want %v at 1", f.Pair, f.Generation, tc.wantPair)
			}
			if f.Pair.Access.Reveal() != tc.wantPair.Access.Reveal() {
				t.Error("the stored access token is not the published one")
			}
			if f.InFlight != (session.InFlight{}) {
				t.Errorf("in-flight mark %+v left after a publish", f.InFlight)
			}
			if f.Lease.Holder != tc.wantLease {
				t.Errorf("lease %+v after Publish, want holder %q", f.Lease, tc.wantLease)
			}
		})
	}
}

// testPublishExtra: a pair's Extra members (an id_token) are stored with
// it, and a later pair without any leaves none behind.
func testPublishExtra(t *testing.T, e env) {
	t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
	c := e.coord()
	if _, err := c.Publish(testCtx(t), "a", 0, pair(2)); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); !samePair(f.Pair, pair(2)) || f.Pair.Extra("id_token") != "id-secret-2-Zq9" {
		t.Errorf("family holds %v (id_token %v), want pair 2 with its id_token", f.Pair, f.Pair.Extra("id_token"))
	}
	if _, err := c.Publish(testCtx(t), "a", 1, pair(1)); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); !samePair(f.Pair, pair(1)) || f.Pair.ExtraMembers() != nil {
		t.Errorf("family holds %v with %v, want pair 1 without Extra members", f.Pair, f.Pair.ExtraMembers())
	}
}

// testRelease: a released lease is free; the in-flight mark stays when the
// token may be spent, goes when it certainly was not; releasing what one
// does not hold changes nothing.
func testRelease(t *testing.T, e env) {
	cases := []struct {
		name      string
		setup     func(*testing.T, env, *Coordinator)
		spent     bool
		wantLease string
		wantMark  string
	}{
		{"spent keeps the mark", func(t *testing.T, _ env, c *Coordinator) {
			acquire(t, c, "a", time.Minute)
			mark(t, c, "a", 0)
		}, true, "", "a"},
		{"not spent clears the mark", func(t *testing.T, _ env, c *Coordinator) {
			acquire(t, c, "a", time.Minute)
			mark(t, c, "a", 0)
		}, false, "", ""},
		{"another's lease and mark are kept", func(t *testing.T, _ env, c *Coordinator) {
			acquire(t, c, "b", time.Minute)
			mark(t, c, "b", 0)
		}, false, "b", "b"},
		{"lapsed holder clears its own mark only", func(t *testing.T, e env, c *Coordinator) {
			acquire(t, c, "a", time.Minute)
			mark(t, c, "a", 0)
			e.advance(t, time.Minute)
			acquire(t, c, "b", time.Minute)
		}, false, "b", ""},
		{"nothing held", func(*testing.T, env, *Coordinator) {}, false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.key += ":" + tc.name
			t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
			c := e.coord()
			tc.setup(t, e, c)
			if err := c.Release(testCtx(t), "a", tc.spent); err != nil {
				t.Fatalf("Release: %v", err)
			}
			if err := c.Release(testCtx(t), "a", tc.spent); err != nil {
				t.Fatalf("second Release: %v", err)
			}
			f := read(t, c)
			if f.Lease.Holder != tc.wantLease || f.InFlight.Holder != tc.wantMark {
				t.Errorf("after Release: lease %+v, mark %+v; want holder %q, mark %q", f.Lease, f.InFlight, tc.wantLease, tc.wantMark)
			}
		})
	}
}

// testWaitAtOnce: Wait returns without waiting when the generation moved
// already or the lease is free.
func testWaitAtOnce(t *testing.T, e env) {
	c := e.coord(WithPollInterval(time.Hour))
	if f, err := c.Wait(testCtx(t), 0); err != nil || f.Generation != 0 || f.Lease.Holder != "" {
		t.Errorf("Wait on a free family = %+v, %v", f, err)
	}
	acquire(t, c, "a", time.Minute)
	if _, err := c.Publish(testCtx(t), "a", 0, pair(1)); err != nil {
		t.Fatal(err)
	}
	acquire(t, c, "b", time.Minute)
	if f, err := c.Wait(testCtx(t), 0); err != nil || f.Generation != 1 {
		t.Errorf("Wait(0) at generation 1 = %+v, %v", f, err)
	}
}

// blocked returns a Coordinator whose Wait signals on the channel each time
// it is about to block: after each read it makes while subscribed, as its
// Conn sees it.
func blocked(e env, opts ...Option) (*Coordinator, chan struct{}) {
	ready := make(chan struct{}, 1)
	spy := &spyConn{Conn: e.conn, ready: ready}
	return rediscore.New(spy, e.key, append([]Option{WithJitterSeed(1)}, opts...)...), ready
}

// spyConn signals ready after every Eval made while a subscription is
// open.
type spyConn struct {
	rediscore.Conn
	ready      chan struct{}
	subscribed atomic.Int32
}

func (s *spyConn) Subscribe(ctx context.Context, channel string) (rediscore.Subscription, error) {
	sub, err := s.Conn.Subscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	s.subscribed.Add(1)
	return spySub{sub, s}, nil
}

func (s *spyConn) Eval(ctx context.Context, script *rediscore.Script, keys []string, args ...string) (any, error) {
	v, err := s.Conn.Eval(ctx, script, keys, args...)
	if s.subscribed.Load() > 0 {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
	return v, err
}

type spySub struct {
	rediscore.Subscription
	s *spyConn
}

func (u spySub) Close() error {
	u.s.subscribed.Add(-1)
	return u.Subscription.Close()
}

// testWaitWoken: a blocked Wait returns on an announced publish or release
// (its poll interval an hour, so only the announcement can wake it), and,
// polling, on a change made without announcement or on the lease's lapse.
func testWaitWoken(t *testing.T, e env) {
	cases := []struct {
		name   string
		poll   time.Duration
		change func(*testing.T, env, *Coordinator)
		gen    uint64 // the generation Wait returns
		lease  string // and the lease's holder
	}{
		{"announced publish", time.Hour, func(t *testing.T, _ env, c *Coordinator) {
			if _, err := c.Publish(testCtx(t), "a", 0, pair(1)); err != nil {
				t.Error(err)
			}
		}, 1, ""},
		{"announced release", time.Hour, func(t *testing.T, _ env, c *Coordinator) {
			if err := c.Release(testCtx(t), "a", true); err != nil {
				t.Error(err)
			}
		}, 0, ""},
		{"unannounced generation, by polling", time.Millisecond, func(t *testing.T, e env, _ *Coordinator) {
			// Written behind the coordinator's back: the channel says nothing,
			// as when a subscription's messages are lost on a disconnect.
			if err := e.client.HSet(testCtx(t), e.stateKey(), fieldGeneration, "3").Err(); err != nil {
				t.Error(err)
			}
		}, 3, "a"},
		{"lapsed lease, by polling", time.Millisecond, func(t *testing.T, e env, _ *Coordinator) {
			e.advance(t, time.Minute)
		}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.key += ":" + tc.name
			t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
			holder := e.coord()
			acquire(t, holder, "a", time.Minute)
			w, ready := blocked(e, WithPollInterval(tc.poll))
			type result struct {
				f   session.Family
				err error
			}
			done := make(chan result, 1)
			go func() {
				f, err := w.Wait(testCtx(t), 0)
				done <- result{f, err}
			}()
			select {
			case <-ready:
			case r := <-done:
				t.Fatalf("Wait returned before the change: %+v, %v", r.f, r.err)
			}
			tc.change(t, e, holder)
			r := <-done
			if r.err != nil {
				t.Fatalf("Wait: %v", r.err)
			}
			if r.f.Generation != tc.gen || r.f.Lease.Holder != tc.lease {
				t.Errorf("Wait = generation %d, lease %+v; want %d, holder %q", r.f.Generation, r.f.Lease, tc.gen, tc.lease)
			}
		})
	}
}

// testWaitContext: Wait returns ctx's error, and the family as last read,
// when ctx ends.
func testWaitContext(t *testing.T, e env) {
	holder := e.coord()
	acquire(t, holder, "a", time.Minute)
	w, ready := blocked(e, WithPollInterval(time.Hour))
	ctx, cancel := context.WithCancel(testCtx(t))
	type result struct {
		f   session.Family
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := w.Wait(ctx, 0)
		done <- result{f, err}
	}()
	<-ready
	cancel()
	r := <-done
	if r.err != context.Canceled || r.f.Lease.Holder != "a" {
		t.Errorf("Wait after cancel = %+v, %v; want a's lease and context.Canceled", r.f, r.err)
	}
	if _, err := w.Wait(ctx, 0); err != context.Canceled {
		t.Errorf("Wait with an ended ctx = %v", err)
	}
}

// testCorrupt: garbage in the family's keys gives a *CorruptError naming
// the field, never a panic, and never quoting the value.
func testCorrupt(t *testing.T, e env) {
	const garbage = "access-secret-in-the-wrong-place"
	cases := []struct {
		name    string
		fields  map[string]string // written into the hash
		lease   bool              // a lease without expiry
		key     string            // want: CorruptError.Key's suffix
		field   string            // and Field
		publish bool              // Publish reports it too
	}{
		{"generation not a number", map[string]string{fieldGeneration: garbage}, false, ":state", fieldGeneration, true},
		{"generation negative", map[string]string{fieldGeneration: "-1"}, false, ":state", fieldGeneration, true},
		{"generation with leading zero", map[string]string{fieldGeneration: "01"}, false, ":state", fieldGeneration, true},
		{"generation too large", map[string]string{fieldGeneration: "99999999999999999999"}, false, ":state", fieldGeneration, true},
		{"expiry not a time", map[string]string{fieldGeneration: "1", fieldExpiry: garbage}, false, ":state", fieldExpiry, false},
		{"issued not a time", map[string]string{fieldGeneration: "1", fieldIssued: "2030-13-45"}, false, ":state", fieldIssued, false},
		{"in-flight time broken", map[string]string{fieldFlHolder: "a", fieldFlGen: "0", fieldFlAt: garbage}, false, ":state", fieldFlAt, false},
		{"in-flight generation broken", map[string]string{fieldFlHolder: "a", fieldFlGen: garbage, fieldFlAt: "1"}, false, ":state", fieldFlGen, false},
		{"in-flight holder missing", map[string]string{fieldFlGen: "0", fieldFlAt: "1"}, false, ":state", fieldFlHolder, false},
		{"lease without expiry", nil, true, ":lease", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e
			e.key += ":" + tc.name
			t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
			ctx := testCtx(t)
			for k, v := range tc.fields {
				if err := e.client.HSet(ctx, e.stateKey(), k, v).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.lease {
				if err := e.client.Set(ctx, e.leaseKey(), "a", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			c := e.coord(WithPollInterval(time.Hour))
			check := func(op string, err error) {
				t.Helper()
				var ce *CorruptError
				if !errors.As(err, &ce) || !strings.HasSuffix(ce.Key, tc.key) || ce.Field != tc.field {
					t.Errorf("%s = %v; want a CorruptError for %s field %q", op, err, tc.key, tc.field)
				}
				if err != nil && strings.Contains(err.Error(), garbage) {
					t.Errorf("%s's error quotes the value: %v", op, err)
				}
			}
			_, err := c.Read(ctx)
			check("Read", err)
			_, err = c.Wait(ctx, 0)
			check("Wait", err)
			if tc.publish {
				_, err = c.Publish(ctx, "a", 0, pair(1))
				check("Publish", err)
			}
			if tc.lease {
				_, _, err = c.Acquire(ctx, "b", time.Minute)
				check("Acquire", err)
			}
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		e := e
		e.key += ":wrong type"
		t.Cleanup(func() { e.client.Del(context.Background(), e.stateKey(), e.leaseKey()) })
		if err := e.client.Set(testCtx(t), e.stateKey(), garbage, 0).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := e.coord().Read(testCtx(t))
		if err == nil || !strings.HasPrefix(err.Error(), "rediscore: read ") || strings.Contains(err.Error(), garbage) {
			t.Errorf("Read of a string as the family's hash = %v", err)
		}
	})
}

// echoHook fails every command with an error quoting its arguments, as a
// careless proxy or client wrapper might.
type echoHook struct{}

func (echoHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (echoHook) ProcessHook(goredis.ProcessHook) goredis.ProcessHook {
	return func(_ context.Context, cmd goredis.Cmder) error {
		err := fmt.Errorf("proxy refused %v", cmd.Args())
		cmd.SetErr(err)
		return err
	}
}
func (echoHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// testNoSecretInErrors: no error of any method contains a secret, even
// when what failed quotes the command; every one says where it came from.
func testNoSecretInErrors(t *testing.T, e env) {
	client := goredis.NewClient(&goredis.Options{Addr: e.client.(*goredis.Client).Options().Addr})
	defer client.Close()
	client.AddHook(echoHook{})
	c := New(client, e.key, WithPollInterval(time.Millisecond))
	ctx := testCtx(t)
	p := pair(1)
	var errs []error
	_, err := c.Read(ctx)
	errs = append(errs, err)
	_, _, err = c.Acquire(ctx, "a", time.Minute)
	errs = append(errs, err)
	errs = append(errs, c.MarkInFlight(ctx, "a", 0))
	_, err = c.Publish(ctx, "a", 0, p)
	errs = append(errs, err)
	errs = append(errs, c.Release(ctx, "a", false))
	_, err = c.Wait(ctx, 0)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d succeeded through a failing hook", i)
			continue
		}
		s := err.Error()
		if !strings.HasPrefix(s, "rediscore: ") {
			t.Errorf("error without context: %v", err)
		}
		for _, secret := range []session.Secret{p.Access, p.Refresh} {
			if strings.Contains(s, secret.Reveal()) || strings.Contains(fmt.Sprintf("%+v", err), secret.Reveal()) {
				t.Errorf("error reveals a secret: %v", err)
			}
		}
	}
	if pe := errs[3].Error(); !strings.Contains(pe, p.Access.String()) {
		t.Errorf("Publish's error %q should show the redacted access token", pe)
	}
}

// testAcquireRace: of many processes racing for a free lease exactly one
// gets it, and every other is told that one.
func testAcquireRace(t *testing.T, e env) {
	const n = 32
	start := make(chan struct{})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    []string
		leases = map[string]int{}
	)
	for i := range n {
		c := e.coord()
		holder := fmt.Sprintf("p%02d", i)
		wg.Go(func() {
			<-start
			l, ok, err := c.Acquire(testCtx(t), holder, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				won = append(won, holder)
			}
			leases[l.Holder]++
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 || leases[won[0]] != n {
		t.Fatalf("winners %v, leases reported %v; want one winner reported by all %d", won, leases, n)
	}
	if f := read(t, e.coord()); f.Lease.Holder != won[0] {
		t.Errorf("lease held by %q, want the winner %q", f.Lease.Holder, won[0])
	}
}
