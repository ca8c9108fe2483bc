package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// staticRefresher hands out a new day-long token on each refresh.
var staticRefresher = RefresherFunc(func(context.Context, Token) (Token, error) {
	now := time.Now()
	return Token{Access: "access", Refresh: "refresh", Issued: now, Expiry: now.Add(24 * time.Hour)}, nil
})

func testFactory(created *atomic.Int64, clk clock.Clock) func(context.Context, string) (*Session, error) {
	return func(ctx context.Context, key string) (*Session, error) {
		created.Add(1)
		now := clk.Now()
		return New(ctx, staticRefresher, Token{Access: Secret("access-" + key), Refresh: "r", Issued: now, Expiry: now.Add(24 * time.Hour)},
			WithClock(clk), WithID(key))
	}
}

// TestManagerCreatesOnce: concurrent first calls for one key share one
// session.
func TestManagerCreatesOnce(t *testing.T) {
	var created atomic.Int64
	m := NewManager(testFactory(&created, clock.New()))
	defer m.Close()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if tok, err := m.Token(context.Background(), "alice"); err != nil || tok.Access != "access-alice" {
				t.Errorf("Token = %v, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || m.Len() != 1 {
		t.Fatalf("created %d sessions, holds %d; want 1", created.Load(), m.Len())
	}
}

// TestManagerEvictsIdle: a session nobody used for the idle timeout is
// closed; the next call creates it again.
func TestManagerEvictsIdle(t *testing.T) {
	var created atomic.Int64
	mock := clock.NewMock()
	m := NewManager(testFactory(&created, mock), WithIdleTimeout(time.Minute), WithManagerClock(mock))
	defer m.Close()
	s, err := m.Session(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	m.Token(context.Background(), "bob")
	for range 3 { // bob stays busy, alice idles
		mock.Add(30 * time.Second)
		m.Token(context.Background(), "bob")
	}
	if m.Len() != 1 {
		t.Fatalf("holds %d sessions after alice idled; want 1", m.Len())
	}
	if _, err := s.Token(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("alice's evicted session: Token = %v, want ErrClosed", err)
	}
	if _, err := m.Token(context.Background(), "alice"); err != nil || created.Load() != 3 {
		t.Fatalf("recreating alice: %v, %d created", err, created.Load())
	}
}

// TestManagerMaxSessions: beyond the cap the least recently used session is
// closed.
func TestManagerMaxSessions(t *testing.T) {
	var created atomic.Int64
	mock := clock.NewMock()
	m := NewManager(testFactory(&created, mock), WithMaxSessions(2), WithManagerClock(mock))
	defer m.Close()
	for _, k := range []string{"a", "b", "a", "c"} {
		mock.Add(time.Second)
		if _, err := m.Token(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 2 {
		t.Fatalf("holds %d, want 2", m.Len())
	}
	if _, ok := m.lookup("b"); ok {
		t.Error("b, the least recently used, was kept")
	}
}

// TestManagerFactoryError: a failed creation is returned and not cached.
func TestManagerFactoryError(t *testing.T) {
	fail := true
	m := NewManager(func(ctx context.Context, key string) (*Session, error) {
		if fail {
			return nil, errors.New("store unreachable")
		}
		return New(ctx, staticRefresher, Token{Access: "a", Expiry: time.Now().Add(time.Hour)})
	})
	defer m.Close()
	if _, err := m.Token(context.Background(), "k"); err == nil || m.Len() != 0 {
		t.Fatalf("Token = %v, Len %d", err, m.Len())
	}
	fail = false
	if _, err := m.Token(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil || m.Len() != 0 {
		t.Fatalf("Close = %v, Len %d", err, m.Len())
	}
	if _, err := m.Token(context.Background(), "k"); !errors.Is(err, ErrManagerClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
