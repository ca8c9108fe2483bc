package conform

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/session"
)

// inRun runs body on a goroutine of a clock, which it runs up to end.
func inRun(t *testing.T, end time.Duration, body func(c *Clock)) {
	t.Helper()
	c := NewClock(origin)
	c.At(0, func() { body(c) })
	if err := c.Run(end); err != nil {
		t.Fatal(err)
	}
	c.Stop()
}

// TestStoreContract holds the shared store to session.Coordinator's
// contract, as TestFileCoordinatorContract holds the file coordinator,
// with every operation taking one round trip of the store's latency.
func TestStoreContract(t *testing.T) {
	inRun(t, time.Hour, func(clk *Clock) {
		ctx := context.Background()
		st := newStore(clk, time.Millisecond, func(time.Duration) bool { return false })
		c := handle{st: st, live: func() bool { return true }}
		start := clk.Elapsed()
		fam, err := c.Read(ctx)
		if err != nil || fam.Generation != 0 || fam.Pair.Access != "" || clk.Elapsed()-start != time.Millisecond {
			t.Fatalf("empty family: %+v, %v, after %v", fam, err, clk.Elapsed()-start)
		}
		if _, ok, err := c.Acquire(ctx, "a", 10*time.Second); !ok || err != nil {
			t.Fatalf("a acquire: %v %v", ok, err)
		}
		if l, ok, _ := c.Acquire(ctx, "b", time.Second); ok || l.Holder != "a" {
			t.Fatalf("b acquired a's lease: %v %+v", ok, l)
		}
		clk.Sleep(5 * time.Second)
		if l, ok, _ := c.Acquire(ctx, "a", 10*time.Second); !ok || !l.Until.Equal(clk.Now().Add(10*time.Second)) {
			t.Fatalf("a extend: %v %+v", ok, l)
		}
		if err := c.MarkInFlight(ctx, "b", 0); !errors.Is(err, session.ErrLeaseLost) {
			t.Fatalf("b marked without the lease: %v", err)
		}
		if err := c.MarkInFlight(ctx, "a", 0); err != nil {
			t.Fatal(err)
		}
		marked := clk.Now()
		clk.Sleep(11 * time.Second) // a's lease lapses
		if _, ok, _ := c.Acquire(ctx, "b", 10*time.Second); !ok {
			t.Fatal("b could not take over a lapsed lease")
		}
		fam, _ = c.Read(ctx)
		if fam.InFlight.Holder != "a" || !fam.InFlight.At.Equal(marked) || fam.Lease.Holder != "b" {
			t.Fatalf("after the take-over: %+v", fam)
		}
		if err := c.MarkInFlight(ctx, "b", 0); err != nil {
			t.Fatal(err)
		}
		if fam, _ = c.Read(ctx); fam.InFlight.Holder != "b" || !fam.InFlight.At.Equal(marked) {
			t.Fatalf("re-marked: %+v", fam.InFlight)
		}
		pair := session.Token{Access: "at-1", Refresh: "rt-1", Issued: clk.Now(), Expiry: clk.Now().Add(time.Hour)}
		if gen, err := c.Publish(ctx, "a", 0, pair); gen != 1 || err != nil {
			t.Fatalf("a publish: %d %v", gen, err)
		}
		var ge *session.GenerationError
		if _, err := c.Publish(ctx, "b", 0, pair); !errors.As(err, &ge) || ge.Want != 0 || ge.Got != 1 {
			t.Fatalf("b publish from a stale generation: %v", err)
		}
		fam, _ = c.Read(ctx)
		if fam.Generation != 1 || fam.Pair.Refresh != "rt-1" || fam.InFlight.Holder != "" || fam.Lease.Holder != "b" {
			t.Fatalf("after the publish: %+v", fam)
		}
		c.MarkInFlight(ctx, "b", 1)
		if err := c.Release(ctx, "b", true); err != nil {
			t.Fatal(err)
		}
		if fam, _ = c.Read(ctx); fam.InFlight.Holder != "b" || fam.Lease.Holder != "" {
			t.Fatalf("release spent: %+v", fam)
		}
		if err := c.Release(ctx, "nobody", false); err != nil {
			t.Fatal(err)
		}
		c.Acquire(ctx, "b", time.Second)
		c.Release(ctx, "b", false)
		if fam, _ = c.Read(ctx); fam.InFlight.Holder != "" {
			t.Fatalf("release not spent kept the mark: %+v", fam.InFlight)
		}
	})
}

// TestStoreWait: Wait returns one round trip after a publish, a release
// or the lease's lapse, or when its context ends.
func TestStoreWait(t *testing.T) {
	var l log
	inRun(t, time.Hour, func(clk *Clock) {
		ctx := context.Background()
		st := newStore(clk, time.Millisecond, func(time.Duration) bool { return false })
		c := handle{st: st, live: func() bool { return true }}
		c.Acquire(ctx, "a", time.Minute)
		clk.Go(func() {
			clk.Sleep(10 * time.Second)
			c.Publish(ctx, "a", 0, session.Token{Access: "at-1"})
			c.Acquire(ctx, "a", time.Minute)
			clk.Sleep(10 * time.Second)
			c.Release(ctx, "a", false)
			c.Acquire(ctx, "a", 30*time.Second)
		})
		fam, _ := c.Wait(ctx, 0)
		l.add(clk, "published: generation "+strconv.FormatUint(fam.Generation, 10))
		fam, _ = c.Wait(ctx, 1)
		l.add(clk, "released: holder "+fam.Lease.Holder)
		c.Wait(ctx, 1)
		l.add(clk, "lapsed")
		short, cancel := clk.WithTimeout(ctx, time.Second)
		defer cancel()
		c.Acquire(ctx, "a", time.Minute)
		if _, err := c.Wait(short, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait with an ended context: %v", err)
		}
		l.add(clk, "context ended")
	})
	// Each step is one round trip (1ms); the writer's operations at an
	// instant come before the reader's, which it woke.
	want := []string{
		"10.003s published: generation 1", // published at 10.002s, read back in one round trip
		"20.005s released: holder a",      // released at 20.004s; the writer took the lease again meanwhile
		"50.006s lapsed",                  // that 30s lease, taken at 20.005s, lapsed
		"51.006s context ended",
	}
	if diff := cmp.Diff(want, l.got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

// TestStoreDownAndCrashed: a round trip within a store_down window fails,
// one of a crashed process reaches nothing.
func TestStoreDownAndCrashed(t *testing.T) {
	inRun(t, time.Hour, func(clk *Clock) {
		ctx := context.Background()
		down := func(at time.Duration) bool { return at >= time.Minute && at < 2*time.Minute }
		st := newStore(clk, time.Millisecond, down)
		alive := true
		c := handle{st: st, live: func() bool { return alive }}
		if _, err := c.Read(ctx); err != nil {
			t.Errorf("before the window: %v", err)
		}
		clk.Sleep(time.Minute - time.Millisecond) // the round trip arrives at 1m
		if _, err := c.Read(ctx); !errors.Is(err, errStoreDown) {
			t.Errorf("arriving within the window: %v", err)
		}
		clk.Sleep(time.Minute)
		if _, _, err := c.Acquire(ctx, "a", time.Minute); err != nil {
			t.Errorf("after the window: %v", err)
		}
		alive = false
		if _, err := c.Read(ctx); !errors.Is(err, errCrashed) {
			t.Errorf("a crashed process's read: %v", err)
		}
	})
}
