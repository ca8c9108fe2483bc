package rediscore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/internal/benchkit"
	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// fleetSize is how many sessions BenchmarkFamilyFleet runs.
const fleetSize = 1000

// publishTimer records when a process sent its publish.
type publishTimer struct {
	Conn
	at *atomic.Int64 // unix nanoseconds
}

func (c publishTimer) Eval(ctx context.Context, s *Script, keys []string, args ...string) (any, error) {
	if s == publishScript {
		c.at.Store(time.Now().UnixNano())
	}
	return c.Conn.Eval(ctx, s, keys, args...)
}

// serverCPU is redis-server's CPU time so far (INFO cpu).
func serverCPU(b *testing.B, c *Client) time.Duration {
	v, err := c.Do(context.Background(), "INFO", "cpu")
	if err != nil {
		b.Fatal(err)
	}
	var d time.Duration
	for line := range strings.Lines(fmt.Sprint(v)) {
		name, val, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			s, _ := strconv.ParseFloat(val, 64)
			d += time.Duration(s * float64(time.Second))
		}
	}
	return d
}

// BenchmarkFamilyFleet runs a thousand sessions of one token family on one
// redis-server through b.N refresh cycles: as a thousand processes (each
// session with a Coordinator and a Client of its own: two connections
// each), and as one process whose sessions share one Coordinator. In each
// cycle one session's refresh reaches the token endpoint and is held there
// until every other session met its lease and waits; then it is answered
// and published. It fails unless each cycle made exactly one refresh, and
// reports the delay from the publish (when the holder sent it) to each
// waiter's adoption (its TokenInstalled hook) — the median and the 99th
// percentile over every waiter of every cycle, and the 99th percentile over
// the cycles of the last waiter's — against one round trip to Redis (the
// median of 50 reads of the family after each cycle): last-x-rtt. Where
// the time goes: the first adoption's delay (first-p50-µs), the CPU time
// this process (every session) and redis-server spent from the answer to
// the last adoption (window-cpu-µs, redis-cpu-µs, medians), and the
// scripts redis-server ran meanwhile, per cycle (the publish and the
// reads of the new pair). Skipped with -short.
func BenchmarkFamilyFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("a thousand sessions: not with -short")
	}
	b.Run("processes", func(b *testing.B) { benchFleet(b, false) })
	b.Run("one-process", func(b *testing.B) { benchFleet(b, true) })
}

func benchFleet(b *testing.B, shared bool) {
	srv := redistest.Start(b, "--maxclients", "10000")
	const key = "authfsm:bench:{fleet}"
	ctx := context.Background()
	seed := New(newTestClient(b, Options{Addr: srv.Addr}), key)
	now := time.Now()
	pair := func(n int) session.Token {
		return session.Token{Access: session.Secret(fmt.Sprintf("access-%d", n)), Refresh: session.Secret(fmt.Sprintf("refresh-%d", n)),
			Issued: now, Expiry: now.Add(time.Hour)}
	}
	if _, ok, err := seed.Acquire(ctx, "seed", time.Minute); err != nil || !ok {
		b.Fatalf("seeding: %v, %v", ok, err)
	}
	if _, err := seed.Publish(ctx, "seed", 0, pair(1)); err != nil {
		b.Fatal(err)
	}

	var refreshes atomic.Int64
	arrived, answer := make(chan struct{}, 1), make(chan struct{}, 1)
	refresher := session.RefresherFunc(func(ctx context.Context, _ session.Token) (session.Token, error) {
		n := refreshes.Add(1)
		arrived <- struct{}{}
		select {
		case <-answer:
		case <-ctx.Done():
			return session.Token{}, ctx.Err()
		}
		return pair(int(n) + 1), nil
	})
	var published, blocked atomic.Int64
	allBlocked := make(chan struct{}, 1)
	coordinator := func() *Coordinator {
		// Polls an hour apart: a Wait blocks once a cycle, so that the
		// benchmark knows when they all wait, and the announcement wakes it.
		// Keep a connection for each read the sessions make at once: the
		// thousand reads that find the lease, in one process.
		idle := 4
		if shared {
			idle = fleetSize
		}
		c := New(publishTimer{newTestClient(b, Options{Addr: srv.Addr, MaxIdle: idle}), &published}, key, WithPollInterval(time.Hour))
		c.waiting = func(lease bool) {
			// Count the waits for the lease; the sessions also watch
			// the family for a logout (WaitGeneration).
			if lease && blocked.Add(1) == fleetSize-1 {
				allBlocked <- struct{}{}
			}
		}
		return c
	}
	var one *Coordinator
	if shared {
		one = coordinator()
	}
	var mu sync.Mutex
	adoptedAt := make([]time.Time, fleetSize)
	var want string // the fingerprint of the pair to adopt
	adoptions := 0
	allAdopted := make(chan struct{}, 1)
	ss := make([]*session.Session, fleetSize)
	for i := range ss {
		c := one
		if c == nil {
			c = coordinator()
		}
		s, err := session.New(ctx, refresher, session.Token{}, session.WithCoordinator(c), session.WithID(fmt.Sprintf("p%d", i)),
			session.WithHooks(hooks.Hooks{TokenInstalled: func(ti hooks.TokenInstalled) {
				at := time.Now()
				mu.Lock()
				defer mu.Unlock()
				if ti.Token == want && adoptedAt[i].IsZero() {
					adoptedAt[i] = at
					if adoptions++; adoptions == fleetSize {
						allAdopted <- struct{}{}
					}
				}
			}}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		ss[i] = s
	}

	rtt := func() time.Duration {
		ds := make([]time.Duration, 50)
		for i := range ds {
			t0 := time.Now()
			if _, err := seed.Read(ctx); err != nil {
				b.Fatal(err)
			}
			ds[i] = time.Since(t0)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	admin := newTestClient(b, Options{Addr: srv.Addr})
	var delays, firsts, lasts, rtts, cpus, rcpus []time.Duration
	var scripts int64 // run by redis-server from the answer to the last adoption
	cycle := 0
	for b.Loop() {
		cycle++
		cur := session.Secret(fmt.Sprintf("access-%d", cycle))
		mu.Lock()
		want, adoptions = audit.Fingerprint(fmt.Sprintf("access-%d", cycle+1)), 0
		clear(adoptedAt)
		mu.Unlock()
		blocked.Store(0)
		before := refreshes.Load()
		// A holder of its own each cycle: a session that refreshed
		// because its token was refused, and sees that token refused
		// within states.FreshWindow, counts a failed attempt and is
		// paced by its retry policy.
		h := (cycle - 1) % fleetSize
		ss[h].Reject(cur)
		<-arrived
		for i, s := range ss {
			if i != h {
				s.Reject(cur)
			}
		}
		<-allBlocked
		r0, e0 := serverCPU(b, admin), serverStats(b, admin)["evalsha"]
		c0, _ := benchkit.CPUTime()
		answer <- struct{}{}
		<-allAdopted
		c1, _ := benchkit.CPUTime()
		cpus, rcpus = append(cpus, c1-c0), append(rcpus, serverCPU(b, admin)-r0)
		scripts += serverStats(b, admin)["evalsha"] - e0
		if n := refreshes.Load() - before; n != 1 {
			b.Fatalf("cycle %d: %d refreshes", cycle, n)
		}
		p := time.Unix(0, published.Load())
		mu.Lock()
		last, first := time.Duration(0), time.Duration(1<<63-1)
		for i, at := range adoptedAt {
			if i == h {
				continue // the holder installs before it publishes
			}
			d := max(at.Sub(p), 0)
			delays = append(delays, d)
			last, first = max(last, d), min(first, d)
		}
		mu.Unlock()
		lasts, firsts = append(lasts, last), append(firsts, first)
		for i, s := range ss {
			if st := s.Status(); st.State != states.Valid {
				b.Fatalf("cycle %d: p%d ended %s", cycle, i, st.State)
			}
		}
		b.StopTimer()
		rtts = append(rtts, rtt())
		b.StartTimer()
	}
	for _, ds := range [][]time.Duration{delays, firsts, lasts, rtts, cpus, rcpus} {
		slices.Sort(ds)
	}
	q := func(ds []time.Duration, f float64) time.Duration { return ds[min(int(f*float64(len(ds))), len(ds)-1)] }
	r := rtts[len(rtts)/2]
	b.ReportMetric(float64(r.Microseconds()), "rtt-µs")
	// Where the time goes: the first adoption (the publish, its
	// announcement, the one read), and the CPU time the window took, of
	// this process (all the sessions) and of redis-server, medians.
	b.ReportMetric(float64(q(firsts, 0.5).Microseconds()), "first-p50-µs")
	b.ReportMetric(float64(q(cpus, 0.5).Microseconds()), "window-cpu-µs")
	b.ReportMetric(float64(q(rcpus, 0.5).Microseconds()), "redis-cpu-µs")
	b.ReportMetric(float64(scripts)/float64(cycle), "scripts/cycle") // the publish and the reads
	b.ReportMetric(float64(q(delays, 0.5).Microseconds()), "adopt-p50-µs")
	b.ReportMetric(float64(q(delays, 0.99).Microseconds()), "adopt-p99-µs")
	b.ReportMetric(float64(q(lasts, 0.99).Microseconds()), "last-p99-µs")
	b.ReportMetric(float64(q(lasts, 0.99))/float64(r), "last-x-rtt")
	b.ReportMetric(1, "refreshes/cycle") // checked above
}
