package session

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// mockRealGrace is the most real time a request is given to be answered
// once its deadline has passed on a clock other than the real one.
const mockRealGrace = time.Second

// realClockType is the type of clock.New()'s clock.
var realClockType = reflect.TypeOf(clock.New())

// isRealClock reports whether c measures real time (clock.New()).
func isRealClock(c clock.Clock) bool { return reflect.TypeOf(c) == realClockType }

// requestContext bounds one exchange with a server by d on the session's
// clock. The exchange itself is real I/O, so on any clock but the real one
// (a test's clock.Mock) the deadline, once it passed on that clock, is
// enforced only after the exchange has also had real time to be answered:
// d, at most mockRealGrace. A mock clock moved past a request in flight
// (mock.Add(time.Hour)) thus ends no request that a server answers within
// a second, and the retries the move schedules are not failed by it either.
// The context reports no deadline: a mock instant means nothing to a
// dialer, which reads a deadline as real time. A DrivingClock drives the
// exchange too, so its own deadline applies as it is.
func (c *config) requestContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if c.realClock || c.driver != nil {
		return c.clock.WithTimeout(parent, d)
	}
	inner, cancel := context.WithCancelCause(parent)
	ctx := &graceCtx{Context: inner}
	start := time.Now()
	grace := min(d, mockRealGrace)
	var mu sync.Mutex
	var real *time.Timer
	expire := func() { cancel(context.DeadlineExceeded) }
	virtual := c.clock.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if left := grace - time.Since(start); left > 0 {
			real = time.AfterFunc(left, expire)
			return
		}
		expire()
	})
	return ctx, func() {
		virtual.Stop()
		mu.Lock()
		if real != nil {
			real.Stop()
		}
		mu.Unlock()
		cancel(context.Canceled)
	}
}

// graceCtx is requestContext's context: its Err is DeadlineExceeded when
// the deadline ended it, and it reports no deadline.
type graceCtx struct{ context.Context }

func (c *graceCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *graceCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}
