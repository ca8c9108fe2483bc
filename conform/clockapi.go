package conform

import (
	"context"
	"errors"
	"time"

	"github.com/benbjohnson/clock"
)

// This file holds the clock.Clock methods of Clock, and View, the same
// clock read with an offset (a client whose clock runs ahead of the
// server's).

// farAway is the duration of the real timers that stand for the clock's
// own: they never fire, and their Stop tells whether the caller stopped
// them.
const farAway = 100 * 365 * 24 * time.Hour

var realClock = clock.New()

// errReset is the misuse a Reset of one of the clock's timers is.
var errReset = errors.New("conform: Reset of a timer of the conform clock is not supported (it would run on real time)")

// errTicker is the misuse a ticker is.
var errTicker = errors.New("conform: tickers of the conform clock are not supported")

// timer is one of the clock's timers: rt stands for it with the caller
// (a *clock.Timer must come from package clock), off is set when an
// internal one is cancelled.
type timer struct {
	rt  *clock.Timer
	off bool
}

// fire reports whether the timer is still armed, and disarms it. mu is
// held.
func (t *timer) fire() bool {
	if t.rt != nil {
		return t.rt.Stop()
	}
	on := !t.off
	t.off = true
	return on
}

// misuse makes Run fail with err.
func (c *Clock) misuse(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Now returns the clock's reading: its origin plus the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin.Add(c.now)
}

// Since returns the virtual time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the virtual time left until t.
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// AfterFunc runs f on a goroutine of the clock's once d passed, unless the
// returned timer is stopped first.
func (c *Clock) AfterFunc(d time.Duration, f func()) *clock.Timer {
	rt := realClock.AfterFunc(farAway, func() { c.misuse(errReset) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.schedule(c.now+max(d, 0), task{fn: f, t: &timer{rt: rt}})
	}
	return rt
}

// Timer returns a timer whose channel receives the time once d passed.
// The clock does not watch the channel: no goroutine of a run may block
// on it.
func (c *Clock) Timer(d time.Duration) *clock.Timer {
	ch := make(chan time.Time, 1)
	rt := realClock.AfterFunc(farAway, func() { c.misuse(errReset) })
	rt.C = ch
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		at := c.now + max(d, 0)
		c.schedule(at, task{t: &timer{rt: rt}, inline: true, fn: func() {
			select {
			case ch <- c.origin.Add(at):
			default:
			}
		}})
	}
	return rt
}

// After returns Timer(d).C.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.Timer(d).C }

// Ticker is not supported: it returns a ticker that never ticks, and Run
// fails.
func (c *Clock) Ticker(d time.Duration) *clock.Ticker {
	c.misuse(errTicker)
	t := realClock.Ticker(farAway)
	t.C = make(chan time.Time)
	return t
}

// Tick is not supported; see Ticker.
func (c *Clock) Tick(d time.Duration) <-chan time.Time { return c.Ticker(d).C }

// Sleep blocks the calling goroutine, which the clock runs, for d of
// virtual time.
func (c *Clock) Sleep(d time.Duration) {
	c.mu.Lock()
	at := c.now + max(d, 0)
	c.mu.Unlock()
	c.block(at, nil, nil)
}

// SleepContext blocks the calling goroutine, which the clock runs, for d of
// virtual time or until ctx ends, and returns ctx's error if it ended
// first (or at the same instant), or ErrStopped when the run is over.
func (c *Clock) SleepContext(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	at := c.now + max(d, 0)
	c.mu.Unlock()
	if ctx.Done() == nil {
		ctx = nil
	}
	switch c.block(at, nil, ctx) {
	case wakeStopped:
		return ErrStopped
	case wakeContext:
		return ctx.Err()
	}
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// ErrStopped is returned by a wait on the clock once the run is over.
var ErrStopped = errors.New("conform: the run is over")

// Go runs f on a new goroutine of the clock's, after the tasks already
// scheduled for the current instant. It implements session.DrivingClock.
func (c *Clock) Go(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		go f()
		return
	}
	c.schedule(c.now, task{fn: f, must: true})
}

// Wait blocks the calling goroutine, which the clock runs, until done is
// closed or ctx ends, and reports whether done was closed. It implements
// session.DrivingClock.
func (c *Clock) Wait(ctx context.Context, done <-chan struct{}) bool {
	if ctx.Done() == nil {
		ctx = nil
	}
	return c.block(-1, done, ctx) == wakeChannel
}

// WithTimeout is WithDeadline(parent, Now()+d).
func (c *Clock) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return c.WithDeadline(parent, c.Now().Add(d))
}

// WithDeadline returns a context that ends when parent does, when the
// clock reaches d (its Err is then context.DeadlineExceeded) or when
// cancelled. It reports no deadline: a virtual instant means nothing to
// code that reads it as real time.
func (c *Clock) WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	inner, cancel := context.WithCancelCause(parent)
	ctx := &deadlineCtx{Context: inner}
	c.mu.Lock()
	at := d.Sub(c.origin)
	if at <= c.now {
		c.mu.Unlock()
		cancel(context.DeadlineExceeded)
		return ctx, func() { cancel(context.Canceled) }
	}
	tm := &timer{}
	if !c.stopped {
		c.schedule(at, task{t: tm, inline: true, fn: func() { cancel(context.DeadlineExceeded) }})
	}
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		tm.off = true
		c.mu.Unlock()
		cancel(context.Canceled)
	}
}

// deadlineCtx is WithDeadline's context: its Err is DeadlineExceeded when
// the deadline ended it.
type deadlineCtx struct{ context.Context }

func (c *deadlineCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// View is a Clock read with an offset: a client whose clock runs Offset
// ahead of the server's. Its timers, deadlines and goroutines are the
// Clock's.
type View struct {
	*Clock
	Offset time.Duration
}

// Now returns the clock's reading plus the offset.
func (v View) Now() time.Time { return v.Clock.Now().Add(v.Offset) }

// Since returns the virtual time elapsed since t, on the view.
func (v View) Since(t time.Time) time.Duration { return v.Now().Sub(t) }

// Until returns the virtual time left until t, on the view.
func (v View) Until(t time.Time) time.Duration { return t.Sub(v.Now()) }

// WithTimeout is WithDeadline(parent, Now()+d).
func (v View) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return v.Clock.WithTimeout(parent, d)
}

// WithDeadline ends the context when the view reads d.
func (v View) WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	return v.Clock.WithDeadline(parent, d.Add(-v.Offset))
}
