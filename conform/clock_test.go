package conform

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var origin = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// log records what the tasks of a run did, in order.
type log struct {
	mu  sync.Mutex
	got []string
}

func (l *log) add(c *Clock, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, c.Elapsed().String()+" "+what)
}

// TestClockOrder: tasks run in the order of their instants, those of one
// instant in the order they were scheduled, a goroutine started with Go
// after the tasks already due, and a task that sleeps lets the others of
// its instant run first. Run stops before its end.
func TestClockOrder(t *testing.T) {
	c := NewClock(origin)
	var l log
	c.At(2*time.Second, func() { l.add(c, "b") })
	c.At(time.Second, func() {
		l.add(c, "a1")
		c.Go(func() { l.add(c, "go") })
		c.Sleep(0)
		l.add(c, "a1 woke")
		c.Sleep(time.Second)
		l.add(c, "a1 slept")
	})
	c.At(time.Second, func() { l.add(c, "a2") })
	c.At(3*time.Second, func() { l.add(c, "end: not run") })
	if err := c.Run(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := []string{"1s a1", "1s a2", "1s go", "1s a1 woke", "2s b", "2s a1 slept"}
	if diff := cmp.Diff(want, l.got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if c.Elapsed() != 3*time.Second || !c.Now().Equal(origin.Add(3*time.Second)) {
		t.Errorf("after Run(3s): %v, %v", c.Elapsed(), c.Now())
	}
	c.Stop()
}

// TestClockTimers: AfterFunc fires at its instant unless stopped, After
// delivers the instant; a ticker, which the clock does not support, fails
// the run.
func TestClockTimers(t *testing.T) {
	c := NewClock(origin)
	var l log
	c.AfterFunc(time.Second, func() { l.add(c, "fired") })
	stopped := c.AfterFunc(time.Second, func() { l.add(c, "stopped one fired") })
	if !stopped.Stop() {
		t.Errorf("Stop of an armed timer reported false")
	}
	ch := c.After(1500 * time.Millisecond)
	if err := c.Run(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1s fired"}, l.got); diff != "" {
		t.Errorf("timers (-want +got):\n%s", diff)
	}
	select {
	case at := <-ch:
		if !at.Equal(origin.Add(1500 * time.Millisecond)) {
			t.Errorf("After delivered %v", at)
		}
	default:
		t.Errorf("After delivered nothing")
	}
	c.Ticker(time.Second)
	if err := c.Run(3 * time.Second); !errors.Is(err, errTicker) {
		t.Errorf("Run after a Ticker: %v, want the misuse reported", err)
	}
	c.Stop()
}

// TestClockDeadline: a context of WithTimeout ends when the clock reaches
// its deadline, with DeadlineExceeded, reports no deadline, ends with its
// parent, and a goroutine waiting with SleepContext or Wait goes on when
// it ends, or when its channel closes.
func TestClockDeadline(t *testing.T) {
	c := NewClock(origin)
	var l log
	c.At(0, func() {
		ctx, cancel := c.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, ok := ctx.Deadline(); ok {
			t.Errorf("the context reports a deadline: real-time code would read it as real time")
		}
		err := c.SleepContext(ctx, time.Minute)
		l.add(c, "slept: "+err.Error())
		ch := make(chan struct{})
		c.Go(func() {
			c.Sleep(time.Second)
			close(ch)
		})
		parent, stop := context.WithCancel(context.Background())
		ctx2, cancel2 := c.WithTimeout(parent, time.Hour)
		defer cancel2()
		if !c.Wait(ctx2, ch) {
			t.Errorf("Wait missed its channel")
		}
		l.add(c, "channel closed")
		stop()
		if c.Wait(ctx2, make(chan struct{})) {
			t.Errorf("Wait reported a channel that never closed")
		}
		l.add(c, "parent ended: "+ctx2.Err().Error())
	})
	if err := c.Run(time.Hour); err != nil {
		t.Fatal(err)
	}
	want := []string{"10s slept: context deadline exceeded", "11s channel closed", "11s parent ended: context canceled"}
	if diff := cmp.Diff(want, l.got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c.Stop()
}

// TestClockStall: a task that blocks on something other than the clock
// stops the run with ErrStalled.
func TestClockStall(t *testing.T) {
	c := NewClock(origin)
	c.StallAfter = 50 * time.Millisecond
	block := make(chan struct{})
	c.At(time.Second, func() { <-block })
	if err := c.Run(time.Minute); !errors.Is(err, ErrStalled) {
		t.Errorf("Run: %v, want ErrStalled", err)
	}
	c.Stop()
	close(block)
}

// TestClockStop: Stop lets the goroutines still waiting on the clock go
// on, with ErrStopped, and starts those a session asked for.
func TestClockStop(t *testing.T) {
	c := NewClock(origin)
	got := make(chan error, 2)
	c.At(0, func() {
		got <- c.SleepContext(context.Background(), time.Hour)
	})
	c.At(30*time.Second, func() {
		c.AfterFunc(time.Hour, func() { got <- errors.New("a timer fired after the run") })
	})
	if err := c.Run(time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if err := <-got; !errors.Is(err, ErrStopped) {
		t.Errorf("SleepContext after Stop: %v", err)
	}
	ran := make(chan struct{})
	c.Go(func() { close(ran) })
	<-ran
}

// TestClockRankedWaiters: the goroutines of a group that a closed channel
// lets go on at one instant go on in the order of their ranks, in the
// places the group holds in the order they blocked; the others keep
// theirs.
func TestClockRankedWaiters(t *testing.T) {
	c := NewClock(origin)
	var l log
	ch := make(chan struct{})
	group := new(int)
	wait := func(name string, rank int, ranked bool) func() {
		return func() {
			var g any
			if ranked {
				g = group
			}
			c.blockRanked(-1, ch, nil, g, rank)
			l.add(c, name)
		}
	}
	// They block in this order: c2, plain, c0, c1.
	c.At(0, wait("c2", 2, true))
	c.At(0, wait("plain", 0, false))
	c.At(0, wait("c0", 0, true))
	c.At(0, wait("c1", 1, true))
	c.At(time.Second, func() { close(ch) })
	if err := c.Run(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := []string{"1s c0", "1s plain", "1s c1", "1s c2"}
	if diff := cmp.Diff(want, l.got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	c.Stop()
}
