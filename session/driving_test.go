package session

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// drivingMock is a DrivingClock over a clock.Mock that records what the
// session asks of it.
type drivingMock struct {
	*clock.Mock
	mu       sync.Mutex
	goes     int
	timeouts []time.Duration
	waiting  chan struct{} // receives once per Wait
}

func (d *drivingMock) Go(f func()) {
	d.mu.Lock()
	d.goes++
	d.mu.Unlock()
	go f()
}

func (d *drivingMock) Wait(ctx context.Context, done <-chan struct{}) bool {
	d.waiting <- struct{}{}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *drivingMock) WithTimeout(parent context.Context, t time.Duration) (context.Context, context.CancelFunc) {
	d.mu.Lock()
	d.timeouts = append(d.timeouts, t)
	d.mu.Unlock()
	return d.Mock.WithTimeout(parent, t)
}

// TestDrivingClock checks that a session on a DrivingClock starts its
// refresh with Go, waits in Token with Wait, and bounds the request with
// the clock's own deadline (WithTimeout), not with WithClock's real-time
// grace.
func TestDrivingClock(t *testing.T) {
	d := &drivingMock{Mock: clock.NewMock(), waiting: make(chan struct{}, 8)}
	release := make(chan struct{})
	var deadline bool
	ref := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		_, deadline = ctx.Deadline() // a mock deadline is reported: it is the clock's own
		<-release
		now := d.Now()
		return Token{Access: "access-1", Refresh: "refresh-1", Issued: now, Expiry: now.Add(time.Hour)}, nil
	})
	s, err := New(context.Background(), ref, Token{Refresh: "refresh-0"}, WithClock(d), WithRequestTimeout(7*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	released := false
	defer func() {
		if !released {
			close(release) // before Close, which waits for the refresh
		}
	}()
	got := make(chan error, 1)
	go func() {
		_, err := s.Token(context.Background())
		got <- err
	}()
	select {
	case <-d.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("Token did not wait through the clock's Wait")
	}
	close(release)
	released = true
	if err := <-got; err != nil {
		t.Fatalf("Token: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.goes != 1 {
		t.Errorf("Go called %d times, want 1 (the refresh)", d.goes)
	}
	if len(d.timeouts) != 1 || d.timeouts[0] != 7*time.Second {
		t.Errorf("WithTimeout calls %v, want one of the request timeout, 7s", d.timeouts)
	}
	if !deadline {
		t.Errorf("the request's context reports no deadline: not the driving clock's own")
	}
}
