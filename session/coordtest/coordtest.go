// Package coordtest is the conformance suite of session.Coordinator: the
// contract its documentation states, as tests any implementation runs
// against itself. session.FileCoordinator, session.MemoryCoordinator and
// the Redis coordinator (github.com/authfsm/authfsm/coordinator/rediscoord) pass
// it; so should any other.
//
//	func TestContract(t *testing.T) {
//		coordtest.Run(t, func(t *testing.T) coordtest.Family {
//			store := newStoreForTest(t) // one family of its own per test
//			return coordtest.Family{
//				Open:    func() session.Coordinator { return myCoordinator(store) },
//				Advance: store.fastForward, // or nil on a clock that cannot be moved
//			}
//		})
//	}
//
// The suite needs to let time pass on the coordinator's clock for the
// tests of a lease that lapses (Family.Advance): a fake clock's Add,
// miniredis's FastForward, time.Sleep inside a testing/synctest bubble.
// Without it those tests are skipped.
package coordtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
)

// A Family is one token family under test, of its own (no other test
// touches it).
type Family struct {
	// Open returns a Coordinator of the family, as another process of it
	// opens one. Required.
	Open func() session.Coordinator
	// Advance lets d pass on the coordinator's clock: every lease is then
	// d shorter. Nil skips the tests that need it.
	Advance func(d time.Duration)
	// Slack is how far the coordinator's times may stray from what a test
	// computes (a real server's clock runs while the test does); 0 is
	// exact.
	Slack time.Duration
}

// Run runs the contract's tests, each on a family that newFamily returns.
func Run(t *testing.T, newFamily func(t *testing.T) Family) {
	t.Helper()
	RunIn(t, nil, newFamily)
}

// RunIn is Run with each test's body (newFamily's call included) run by
// in: testing/synctest.Test, for a coordinator on the real clock whose
// time the suite may then move with time.Sleep (Family.Advance).
func RunIn(t *testing.T, in func(t *testing.T, body func(t *testing.T)), newFamily func(t *testing.T) Family) {
	t.Helper()
	if in == nil {
		in = func(t *testing.T, body func(t *testing.T)) { body(t) }
	}
	for _, c := range []struct {
		name string
		run  func(*testing.T, Family)
	}{
		{"ReadEmpty", testReadEmpty},
		{"Acquire", testAcquire},
		{"LeaseLapses", testLeaseLapses},
		{"MarkInFlight", testMarkInFlight},
		{"MarkKeepsItsInstant", testMarkKeepsItsInstant},
		{"Publish", testPublish},
		{"PublishAfterTheLeaseLapsed", testPublishAfterLapse},
		{"Release", testRelease},
		{"WaitAtOnce", testWaitAtOnce},
		{"WaitWoken", testWaitWoken},
		{"WaitContext", testWaitContext},
		{"WaitGeneration", testWaitGeneration},
		{"AcquireRace", testAcquireRace},
		{"AcquireFamily", testAcquireFamily},
	} {
		t.Run(c.name, func(t *testing.T) {
			in(t, func(t *testing.T) {
				f := newFamily(t)
				if f.Open == nil {
					t.Fatal("coordtest: Family.Open is nil")
				}
				c.run(t, f)
			})
		})
	}
}

// ctx is a test's context, bounded so that a broken Wait fails the test
// instead of hanging it.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func read(t *testing.T, c session.Coordinator) session.Family {
	t.Helper()
	f, err := c.Read(ctx(t))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return f
}

func acquire(t *testing.T, c session.Coordinator, holder string, ttl time.Duration) session.Lease {
	t.Helper()
	l, ok, err := c.Acquire(ctx(t), holder, ttl)
	if err != nil || !ok {
		t.Fatalf("Acquire(%q) = %+v, %t, %v; want the lease", holder, l, ok, err)
	}
	return l
}

func mark(t *testing.T, c session.Coordinator, holder string, gen uint64) {
	t.Helper()
	if err := c.MarkInFlight(ctx(t), holder, gen); err != nil {
		t.Fatalf("MarkInFlight(%q, %d): %v", holder, gen, err)
	}
}

func publish(t *testing.T, c session.Coordinator, holder string, from uint64, p session.Token) uint64 {
	t.Helper()
	n, err := c.Publish(ctx(t), holder, from, p)
	if err != nil {
		t.Fatalf("Publish(%q, %d): %v", holder, from, err)
	}
	return n
}

func advance(t *testing.T, f Family, d time.Duration) {
	t.Helper()
	if f.Advance == nil {
		t.Skip("coordtest: Family.Advance is nil: the coordinator's clock cannot be moved")
	}
	f.Advance(d)
}

// pair is a token pair of generation n with recognisable secrets.
func pair(n int) session.Token {
	issued := time.Date(2030, 1, 2, 3, 0, 0, 987000000, time.UTC)
	return session.Token{
		Access:  session.Secret(fmt.Sprintf("access-secret-%d", n)),
		Refresh: session.Secret(fmt.Sprintf("refresh-secret-%d", n)),
		Type:    "Bearer", Scope: "read write",
		Issued: issued, Expiry: issued.Add(time.Hour),
	}
}

func samePair(a, b session.Token) bool {
	return a.Access == b.Access && a.Refresh == b.Refresh && a.Type == b.Type && a.Scope == b.Scope &&
		a.Issued.Equal(b.Issued) && a.Expiry.Equal(b.Expiry)
}

func within(got, want, slack time.Duration) bool { return got >= want-slack && got <= want+slack }

// testReadEmpty: a family nobody has published to has generation 0, no
// pair, no lease and no mark.
func testReadEmpty(t *testing.T, f Family) {
	fam := read(t, f.Open())
	if fam.Generation != 0 || fam.Pair.Access != "" || fam.Pair.Refresh != "" || fam.Lease.Held(fam.Now) || fam.InFlight.Holder != "" {
		t.Errorf("a new family reads %+v", fam)
	}
	if fam.Now.IsZero() {
		t.Error("Family.Now is zero: a caller cannot measure a lease against it")
	}
}

// testAcquire: a free lease is taken for ttl; another holder is told who
// holds it and until when; the holder extends it.
func testAcquire(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	l := acquire(t, a, "a", 30*time.Second)
	fam := read(t, b)
	if fam.Lease.Holder != "a" || !within(fam.Lease.Until.Sub(fam.Now), 30*time.Second, f.Slack+time.Second) || l.Holder != "a" {
		t.Fatalf("after a took the lease for 30s: %+v at %v (Acquire said %+v)", fam.Lease, fam.Now, l)
	}
	busy, ok, err := b.Acquire(ctx(t), "b", 30*time.Second)
	if err != nil || ok || busy.Holder != "a" || !busy.Until.Equal(fam.Lease.Until) && !within(busy.Until.Sub(fam.Lease.Until), 0, f.Slack) {
		t.Fatalf("b's Acquire of a's lease = %+v, %t, %v; want refused, with a's lease", busy, ok, err)
	}
	acquire(t, a, "a", time.Minute)
	if fam := read(t, b); fam.Lease.Holder != "a" || !within(fam.Lease.Until.Sub(fam.Now), time.Minute, f.Slack+time.Second) {
		t.Errorf("after a extended it for a minute: %+v at %v", fam.Lease, fam.Now)
	}
}

// testAcquireFamily: a session.FamilyAcquirer's AcquireFamily takes the
// lease as Acquire does while the family is at the generation given, and
// returns the family as a Read right after would: the pair and generation,
// the in-flight mark, and the lease it took or the other holder's. At
// another generation it takes nothing. Skipped for a coordinator that is
// none.
func testAcquireFamily(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	fa, ok := a.(session.FamilyAcquirer)
	fb, okb := b.(session.FamilyAcquirer)
	if !ok || !okb {
		t.Skip("coordtest: not a session.FamilyAcquirer")
	}
	acquire(t, a, "a", 30*time.Second)
	publish(t, a, "a", 0, pair(1))
	fam, took, err := fb.AcquireFamily(ctx(t), "b", 30*time.Second, 1)
	if err != nil || !took || fam.Generation != 1 || !samePair(fam.Pair, pair(1)) || fam.Lease.Holder != "b" ||
		!within(fam.Lease.Until.Sub(fam.Now), 30*time.Second, f.Slack+time.Second) || fam.InFlight.Holder != "" {
		t.Fatalf("b's AcquireFamily of a free lease at generation 1 = %+v, %t, %v; want b's lease for 30s", fam, took, err)
	}
	mark(t, b, "b", 1)
	fam, took, err = fa.AcquireFamily(ctx(t), "a", 30*time.Second, 1)
	if err != nil || took || fam.Lease.Holder != "b" || fam.Generation != 1 || !samePair(fam.Pair, pair(1)) ||
		fam.InFlight.Holder != "b" || fam.InFlight.Generation != 1 {
		t.Fatalf("a's AcquireFamily of b's lease = %+v, %t, %v; want refused, with b's lease and mark on generation 1", fam, took, err)
	}
	if r := read(t, a); r.Lease.Holder != "b" || !within(r.Lease.Until.Sub(fam.Lease.Until), 0, f.Slack+time.Second) {
		t.Errorf("a read %+v after AcquireFamily said %+v", r.Lease, fam.Lease)
	}
	publish(t, b, "b", 1, pair(2))
	fam, took, err = fa.AcquireFamily(ctx(t), "a", 30*time.Second, 1)
	if err != nil || took || fam.Generation != 2 || !samePair(fam.Pair, pair(2)) || fam.Lease.Held(fam.Now) {
		t.Fatalf("a's AcquireFamily at generation 1 of a family at 2 = %+v, %t, %v; want refused, with generation 2 and no lease", fam, took, err)
	}
	if r := read(t, a); r.Lease.Held(r.Now) {
		t.Errorf("AcquireFamily at a moved generation took the lease: %+v", r.Lease)
	}
}

// testLeaseLapses: a lapsed lease is no lease, and another holder takes
// it; the lapsed holder's mark stays, and it can no longer mark.
func testLeaseLapses(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	acquire(t, a, "a", 30*time.Second)
	mark(t, a, "a", 0)
	advance(t, f, 31*time.Second)
	if fam := read(t, b); fam.Lease.Held(fam.Now) {
		t.Fatalf("lease still held after it lapsed: %+v at %v", fam.Lease, fam.Now)
	}
	acquire(t, b, "b", 30*time.Second)
	fam := read(t, b)
	if fam.Lease.Holder != "b" || fam.InFlight.Holder != "a" || fam.InFlight.Generation != 0 {
		t.Errorf("after b took over: lease %+v, mark %+v; want b's lease and a's mark", fam.Lease, fam.InFlight)
	}
	if err := a.MarkInFlight(ctx(t), "a", 0); !errors.Is(err, session.ErrLeaseLost) {
		t.Errorf("MarkInFlight by the lapsed holder = %v, want ErrLeaseLost", err)
	}
}

// testMarkInFlight: only the lease's holder marks; the mark carries the
// holder, the generation and the coordinator's time.
func testMarkInFlight(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	if err := a.MarkInFlight(ctx(t), "a", 0); !errors.Is(err, session.ErrLeaseLost) {
		t.Errorf("MarkInFlight without the lease = %v, want ErrLeaseLost", err)
	}
	acquire(t, b, "b", time.Minute)
	if err := a.MarkInFlight(ctx(t), "a", 0); !errors.Is(err, session.ErrLeaseLost) {
		t.Errorf("MarkInFlight under another's lease = %v, want ErrLeaseLost", err)
	}
	if fam := read(t, a); fam.InFlight.Holder != "" {
		t.Errorf("a refused mark left %+v", fam.InFlight)
	}
	mark(t, b, "b", 7)
	fam := read(t, a)
	if fam.InFlight.Holder != "b" || fam.InFlight.Generation != 7 || !within(fam.Now.Sub(fam.InFlight.At), 0, f.Slack+time.Second) {
		t.Errorf("mark = %+v at %v; want b's, of generation 7, now", fam.InFlight, fam.Now)
	}
}

// testMarkKeepsItsInstant: a second mark on the same generation keeps the
// first instant (the reuse grace runs from it); one on another generation
// takes its own.
func testMarkKeepsItsInstant(t *testing.T, f Family) {
	a := f.Open()
	acquire(t, a, "a", time.Hour)
	mark(t, a, "a", 3)
	first := read(t, a).InFlight.At
	advance(t, f, 10*time.Second)
	mark(t, a, "a", 3)
	if at := read(t, a).InFlight.At; !at.Equal(first) {
		t.Errorf("a mark on the same generation moved its instant from %v to %v", first, at)
	}
	mark(t, a, "a", 4)
	if fam := read(t, a); fam.InFlight.Generation != 4 || !fam.InFlight.At.After(first) {
		t.Errorf("a mark on another generation = %+v, want its own instant after %v", fam.InFlight, first)
	}
}

// testPublish: the compare-and-swap on the generation: it stores the pair
// as the next generation, clears the mark and releases the holder's lease;
// it succeeds without a lease; it fails with a *GenerationError when
// another pair was published since.
func testPublish(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	acquire(t, a, "a", time.Minute)
	mark(t, a, "a", 0)
	if n := publish(t, a, "a", 0, pair(1)); n != 1 {
		t.Fatalf("first Publish = generation %d, want 1", n)
	}
	fam := read(t, b)
	if fam.Generation != 1 || !samePair(fam.Pair, pair(1)) || fam.Lease.Held(fam.Now) || fam.InFlight.Holder != "" {
		t.Fatalf("after the publish: %+v; want generation 1 with the pair, no lease, no mark", fam)
	}
	if n := publish(t, b, "b", 1, pair(2)); n != 2 {
		t.Fatalf("Publish without the lease = generation %d, want 2", n)
	}
	_, err := a.Publish(ctx(t), "a", 1, pair(3))
	var ge *session.GenerationError
	if !errors.As(err, &ge) || ge.Want != 1 || ge.Got != 2 || !errors.Is(err, session.ErrGenerationMoved) {
		t.Fatalf("Publish from a moved generation = %v; want a *GenerationError{Want: 1, Got: 2}", err)
	}
	if fam := read(t, a); fam.Generation != 2 || !samePair(fam.Pair, pair(2)) {
		t.Errorf("a refused publish changed the family: %+v", fam)
	}
}

// testPublishAfterLapse: a holder whose lease lapsed and was taken still
// publishes (it holds the only copy of a rotated refresh token); the new
// holder's lease stays.
func testPublishAfterLapse(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	acquire(t, a, "a", 30*time.Second)
	mark(t, a, "a", 0)
	advance(t, f, time.Minute)
	acquire(t, b, "b", time.Minute)
	if n := publish(t, a, "a", 0, pair(1)); n != 1 {
		t.Fatalf("Publish after the lease lapsed = generation %d, want 1", n)
	}
	if fam := read(t, b); fam.Generation != 1 || fam.Lease.Holder != "b" || fam.InFlight.Holder != "" {
		t.Errorf("after the late publish: %+v; want generation 1, b's lease, no mark", fam)
	}
}

// testRelease: a released lease is free; the mark stays when the token
// may be spent and goes when it certainly was not; releasing what one does
// not hold changes nothing and is no error.
func testRelease(t *testing.T, f Family) {
	a, b := f.Open(), f.Open()
	acquire(t, a, "a", time.Minute)
	mark(t, a, "a", 0)
	if err := a.Release(ctx(t), "a", true); err != nil {
		t.Fatal(err)
	}
	if fam := read(t, a); fam.Lease.Held(fam.Now) || fam.InFlight.Holder != "a" {
		t.Errorf("after a spent release: %+v; want no lease, a's mark", fam)
	}
	acquire(t, a, "a", time.Minute)
	if err := a.Release(ctx(t), "a", false); err != nil {
		t.Fatal(err)
	}
	if fam := read(t, a); fam.Lease.Held(fam.Now) || fam.InFlight.Holder != "" {
		t.Errorf("after a release that spent nothing: %+v; want no lease, no mark", fam)
	}
	acquire(t, b, "b", time.Minute)
	mark(t, b, "b", 0)
	for _, spent := range []bool{false, true} {
		if err := a.Release(ctx(t), "a", spent); err != nil {
			t.Errorf("releasing what a does not hold: %v", err)
		}
	}
	if fam := read(t, a); fam.Lease.Holder != "b" || fam.InFlight.Holder != "b" {
		t.Errorf("a's release touched b's lease or mark: %+v", fam)
	}
}

// testWaitAtOnce: Wait returns without waiting when the generation differs
// already or no lease is held.
func testWaitAtOnce(t *testing.T, f Family) {
	c := f.Open()
	if fam, err := c.Wait(ctx(t), 0); err != nil || fam.Generation != 0 {
		t.Errorf("Wait on a free family = %+v, %v", fam, err)
	}
	acquire(t, c, "a", time.Minute)
	publish(t, c, "a", 0, pair(1))
	acquire(t, c, "b", time.Minute)
	if fam, err := c.Wait(ctx(t), 0); err != nil || fam.Generation != 1 {
		t.Errorf("Wait(0) at generation 1 = %+v, %v", fam, err)
	}
}

// testWaitWoken: a Wait blocked on a held lease returns once another
// process publishes, or releases the lease.
func testWaitWoken(t *testing.T, f Family) {
	for _, publishes := range []bool{true, false} {
		func() {
			holder, waiter := f.Open(), f.Open()
			gen := read(t, holder).Generation
			acquire(t, holder, "a", time.Hour)
			type result struct {
				fam session.Family
				err error
			}
			done := make(chan result, 1)
			go func() {
				fam, err := waiter.Wait(ctx(t), gen)
				done <- result{fam, err}
			}()
			if publishes {
				publish(t, holder, "a", gen, pair(1))
			} else if err := holder.Release(ctx(t), "a", false); err != nil {
				t.Fatal(err)
			}
			r := <-done
			switch {
			case r.err != nil:
				t.Fatalf("Wait: %v", r.err)
			case publishes && (r.fam.Generation != gen+1 || !samePair(r.fam.Pair, pair(1))):
				t.Errorf("Wait after a publish = %+v, want generation %d", r.fam, gen+1)
			case !publishes && r.fam.Lease.Held(r.fam.Now):
				t.Errorf("Wait after a release = %+v, want the lease free", r.fam)
			}
		}()
	}
}

// testWaitContext: a Wait blocked on a held lease returns ctx's error when
// ctx ends.
func testWaitContext(t *testing.T, f Family) {
	holder, waiter := f.Open(), f.Open()
	acquire(t, holder, "a", time.Hour)
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Wait(c, 0)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after its context ended = %v, want context.Canceled", err)
	}
}

// testAcquireRace: of processes racing for a free lease exactly one gets
// it, and every other is told that one.
func testAcquireRace(t *testing.T, f Family) {
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    []string
		others = map[string]int{}
	)
	start := make(chan struct{})
	for i := range n {
		c, holder := f.Open(), fmt.Sprintf("p%d", i)
		wg.Go(func() {
			<-start
			l, ok, err := c.Acquire(ctx(t), holder, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				won = append(won, holder)
			} else {
				others[l.Holder]++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(won) != 1 || len(others) > 1 || len(others) == 1 && others[won[0]] != n-1 {
		t.Errorf("racing for a free lease: %v won, the others were told %v", won, others)
	}
}

// testWaitGeneration: a coordinator that is a session.GenerationWaiter
// waits for a newer generation alone — not woken by a free lease — and
// returns once another process publishes.
func testWaitGeneration(t *testing.T, f Family) {
	waiter, ok := f.Open().(session.GenerationWaiter)
	if !ok {
		t.Skip("coordtest: not a session.GenerationWaiter")
	}
	other := f.Open()
	if fam, err := waiter.WaitGeneration(ctx(t), 1); err != nil || fam.Generation != 0 {
		t.Fatalf("WaitGeneration(1) at generation 0 = %+v, %v; want at once", fam, err)
	}
	type result struct {
		fam session.Family
		err error
	}
	done := make(chan result, 1)
	go func() {
		fam, err := waiter.WaitGeneration(ctx(t), 0)
		done <- result{fam, err}
	}()
	acquire(t, other, "a", time.Minute)
	if err := other.Release(ctx(t), "a", false); err != nil {
		t.Fatal(err)
	}
	publish(t, other, "b", 0, pair(1))
	r := <-done
	if r.err != nil || r.fam.Generation != 1 || !samePair(r.fam.Pair, pair(1)) {
		t.Errorf("WaitGeneration(0) after a publish = %+v, %v; want generation 1", r.fam, r.err)
	}
}
