// Package refreshcost measures what one refresh costs each process of a
// token family on a session.Coordinator: the tests of the file coordinator
// and of the Redis coordinator pin the round trips with it.
//
// The scenario runs three sessions of one family, each on a coordinator
// of its own (three processes), through one refresh in a fixed order: a
// late process reads the family, and asks for the lease only after the
// holder published; the holder's attempt reaches the token endpoint; a
// waiter's attempt finds the lease busy and waits; the holder publishes;
// the waiter adopts; the late process adopts. Every session also watches
// its family while it holds the family's pair (for a logout), as a session
// does: each step waits until the watches it woke are blocked again, so
// that what they cost falls in the step that woke them. Each coordinator's
// calls are counted by method, and the test is told at each step (Phase),
// so that it can count what the store itself saw between two steps.
package refreshcost

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// Open returns process i's coordinator (i < 0: the one that seeds the
// family, whose blocked is nil), which must call blocked each time its
// Wait (lease true) or WaitGeneration (lease false) is about to block,
// after the read that did not end it.
type Open func(i int, blocked func(lease bool)) session.Coordinator

// Counts are a coordinator's calls by method: read, acquire, mark,
// publish, release, wait (Wait and WaitGeneration alike).
type Counts map[string]int

// String lists the counts as "acquire 1, read 2" in the order of the
// methods' names.
func (n Counts) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(n)) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, n[k])
	}
	return b.String()
}

// Cost is what the refresh cost each process in coordinator calls.
type Cost struct {
	Holder, Waiter, Late Counts
}

// The steps Measure reports to its phase function, in this order. Each
// names what happened since the one before.
const (
	PhaseStart       = "start"        // the family is seeded, the sessions open
	PhaseLateRead    = "late-read"    // the late process's read
	PhaseHolderSent  = "holder-sent"  // the holder's attempt up to its request
	PhaseWaiterWaits = "waiter-waits" // the waiter's attempt up to its blocked Wait
	PhasePublished   = "published"    // the holder's publish, the waiter's wake-up and adoption
	PhaseLateAdopts  = "late-adopts"  // the late process's lease and adoption, and every session closed
)

// Measure runs cycles refreshes on the coordinators open returns (open(-1)
// seeds the family with generation 1) and returns each process's calls in
// the last, the scenario's, calling phase after each of its steps. In the
// cycles before (which let a coordinator set up what it keeps from one
// refresh to the next), the late process adopts the new pair after the
// waiter did: a read, no lease.
func Measure(t testing.TB, cycles int, open Open, phase func(step string)) Cost {
	t.Helper()
	ctx := context.Background()
	seed := open(-1, nil)
	now := time.Now()
	if _, ok, err := seed.Acquire(ctx, "seed", time.Minute); err != nil || !ok {
		t.Fatalf("seeding the family: %v, %v", ok, err)
	}
	if _, err := seed.Publish(ctx, "seed", 0, pair(1, now)); err != nil {
		t.Fatal(err)
	}
	g := &gate{now: now, arrived: make(chan struct{}, 3), open: make(chan struct{}, 1)}
	cs := make([]*counting, 3)
	installed := make([]chan string, 3)
	for i := range cs {
		cs[i] = &counting{t: t, name: fmt.Sprintf("p%d", i), changed: make(chan struct{})}
		cs[i].Coordinator = open(i, cs[i].blocked)
		var c session.Coordinator = cs[i]
		if fa, ok := cs[i].Coordinator.(session.FamilyAcquirer); ok {
			c = countingAcquirer{cs[i], fa}
		}
		installed[i] = make(chan string, 4)
		s, err := session.New(ctx, session.RefresherFunc(g.refresh), session.Token{}, session.WithCoordinator(c),
			session.WithID(fmt.Sprintf("p%d", i)), session.WithAudit(&audit.Memory{}),
			session.WithHooks(hooks.Hooks{TokenInstalled: func(ti hooks.TokenInstalled) { installed[i] <- ti.Token }}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		cs[i].session = s
	}
	holder, waiter, late := cs[0], cs[1], cs[2]
	holder.published = make(chan struct{}, 1)
	for cycle := 1; cycle <= cycles; cycle++ {
		last := cycle == cycles
		step := func(name string) {
			if last {
				phase(name)
			}
		}
		cur, next := string(pair(cycle, now).Access), audit.Fingerprint(string(pair(cycle+1, now).Access))
		adopted := func(i int) {
			for fp := range installed[i] {
				if fp == next {
					return
				}
			}
		}
		for _, c := range cs {
			c.watching(uint64(cycle), false) // for a logout
			c.take()
		}
		step(PhaseStart)
		publishing, lateRead := make(chan struct{}), make(chan struct{}, 1)
		if last {
			late.setBeforeAcquire(func() { lateRead <- struct{}{}; <-publishing })
			late.session.Reject(session.Secret(cur)) // it reads, then its Acquire waits for the publish
			<-lateRead
			step(PhaseLateRead)
		}
		holder.session.Reject(session.Secret(cur))
		<-g.arrived
		step(PhaseHolderSent)
		waiter.session.Reject(session.Secret(cur))
		waiter.watching(uint64(cycle), true)
		step(PhaseWaiterWaits)
		g.open <- struct{}{}
		<-holder.published
		adopted(1)
		holder.watching(uint64(cycle+1), false)
		waiter.watching(uint64(cycle+1), false)
		if last {
			late.watching(uint64(cycle+1), false) // it woke, its attempt still before its acquire
		}
		step(PhasePublished)
		if !last {
			late.session.Reject(session.Secret(cur)) // it reads the new pair
		}
		close(publishing)
		adopted(2)
		adopted(0)
		for i, c := range cs {
			if st := c.session.Status(); st.State != states.Valid {
				t.Fatalf("cycle %d: p%d ended %s", cycle, i, st.State)
			}
		}
	}
	for _, c := range cs {
		// What the adoption asks for after it (giving up a lease) is done
		// once the session closed.
		if err := c.session.Close(); err != nil {
			t.Fatal(err)
		}
	}
	phase(PhaseLateAdopts)
	if n := g.n.Load(); n != int64(cycles) {
		t.Errorf("%d refreshes reached the token endpoint in %d cycles", n, cycles)
	}
	return Cost{Holder: holder.take(), Waiter: waiter.take(), Late: late.take()}
}

// pair is the family's generation n.
func pair(n int, now time.Time) session.Token {
	return session.Token{Access: session.Secret(fmt.Sprintf("access-%d", n)), Refresh: session.Secret(fmt.Sprintf("refresh-%d", n)),
		Issued: now, Expiry: now.Add(time.Hour)}
}

// gate answers a refresh with the family's next pair once the test opens
// it, after telling the test that the request arrived.
type gate struct {
	now     time.Time // the pairs' issue
	arrived chan struct{}
	open    chan struct{}
	n       atomic.Int64
}

func (g *gate) refresh(ctx context.Context, _ session.Token) (session.Token, error) {
	g.arrived <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return session.Token{}, ctx.Err()
	}
	return pair(int(g.n.Add(1))+1, g.now), nil
}

// counting counts one process's calls of its coordinator by method, and
// follows its waits.
type counting struct {
	session.Coordinator
	session *session.Session
	t       testing.TB
	name    string // p0, p1, p2

	mu            sync.Mutex
	n             Counts
	beforeAcquire func() // runs before an Acquire is passed on
	published     chan struct{}
	waits         map[*waitCall]bool // the Waits under way
	changed       chan struct{}      // closed and replaced when waits change
}

// waitCall is one Wait (lease) or WaitGeneration under way.
type waitCall struct {
	gen            uint64
	lease, blocked bool
}

// enter records a wait for gen that starts.
func (c *counting) enter(gen uint64, lease bool) *waitCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waitCall{gen: gen, lease: lease}
	if c.waits == nil {
		c.waits = map[*waitCall]bool{}
	}
	c.waits[w] = true
	c.notifyLocked()
	return w
}

// exit records the end of w.
func (c *counting) exit(w *waitCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waits, w)
	c.notifyLocked()
}

// blocked is the coordinator's report that a wait of its kind blocks.
func (c *counting) blocked(lease bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.waits {
		if w.lease == lease {
			w.blocked = true
		}
	}
	c.notifyLocked()
}

func (c *counting) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// watching waits until a wait of the kind lease for generation gen is
// under way and blocked.
func (c *counting) watching(gen uint64, lease bool) {
	c.t.Helper()
	deadline := time.NewTimer(time.Minute) // a bound, not a pace: a hang fails
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ch := c.changed
		for w := range c.waits {
			if w.gen == gen && w.lease == lease && w.blocked {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("%s: no wait (lease %v) for generation %d blocked within a minute", c.name, lease, gen)
		}
	}
}

func (c *counting) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = Counts{}
	}
	c.n[op]++
}

// take returns the counts so far and starts again from none.
func (c *counting) take() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

func (c *counting) setBeforeAcquire(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.beforeAcquire = f
}

func (c *counting) Read(ctx context.Context) (session.Family, error) {
	c.count("read")
	return c.Coordinator.Read(ctx)
}

func (c *counting) Acquire(ctx context.Context, holder string, ttl time.Duration) (session.Lease, bool, error) {
	c.mu.Lock()
	before := c.beforeAcquire
	c.mu.Unlock()
	if before != nil {
		before()
	}
	c.count("acquire")
	return c.Coordinator.Acquire(ctx, holder, ttl)
}

// countingAcquirer is counting on a FamilyAcquirer.
type countingAcquirer struct {
	*counting
	fa session.FamilyAcquirer
}

func (c countingAcquirer) AcquireFamily(ctx context.Context, holder string, ttl time.Duration, gen uint64) (session.Family, bool, error) {
	c.mu.Lock()
	before := c.beforeAcquire
	c.mu.Unlock()
	if before != nil {
		before()
	}
	c.count("acquire")
	return c.fa.AcquireFamily(ctx, holder, ttl, gen)
}

func (c *counting) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	c.count("mark")
	return c.Coordinator.MarkInFlight(ctx, holder, gen)
}

func (c *counting) Publish(ctx context.Context, holder string, gen uint64, p session.Token) (uint64, error) {
	c.count("publish")
	n, err := c.Coordinator.Publish(ctx, holder, gen, p)
	if c.published != nil {
		c.published <- struct{}{}
	}
	return n, err
}

func (c *counting) Release(ctx context.Context, holder string, spent bool) error {
	c.count("release")
	return c.Coordinator.Release(ctx, holder, spent)
}

func (c *counting) Wait(ctx context.Context, gen uint64) (session.Family, error) {
	c.count("wait")
	defer c.exit(c.enter(gen, true))
	return c.Coordinator.Wait(ctx, gen)
}

func (c *counting) WaitGeneration(ctx context.Context, gen uint64) (session.Family, error) {
	c.count("wait")
	defer c.exit(c.enter(gen, false))
	if gw, ok := c.Coordinator.(session.GenerationWaiter); ok {
		return gw.WaitGeneration(ctx, gen)
	}
	return c.Coordinator.Wait(ctx, gen)
}
