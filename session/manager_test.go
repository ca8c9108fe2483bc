package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
	if _, ok := m.shard("b").load("b"); ok {
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

const benchKeys = 100_000

func benchManager(b *testing.B) (*Manager, []string) {
	var created atomic.Int64
	m := NewManager(testFactory(&created, clock.New()), WithIdleTimeout(time.Hour))
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%06d", i)
		if _, err := m.Session(context.Background(), keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	return m, keys
}

// BenchmarkManagerToken: Token for one of 100k keys, in parallel, against
// Session.Token on one session (the floor the map lookup adds to).
func BenchmarkManagerToken(b *testing.B) {
	b.Run("one-session", func(b *testing.B) {
		s, err := New(context.Background(), staticRefresher, Token{Access: "a", Expiry: time.Now().Add(24 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Token(context.Background())
			}
		})
	})
	// The same random walk over 100k sessions without the manager: the
	// cache misses of touching 100k sessions, which the manager cannot
	// avoid either.
	b.Run("100k-sessions-direct", func(b *testing.B) {
		m, keys := benchManager(b)
		ss := make([]*Session, len(keys))
		for i, k := range keys {
			ss[i], _ = m.Session(context.Background(), k)
		}
		defer func() {
			b.StopTimer()
			m.Close()
		}()
		b.ReportAllocs()
		b.ResetTimer()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(7919) % benchKeys
			for pb.Next() {
				ss[i].Token(context.Background())
				i = (i + 7919) % benchKeys
			}
		})
	})
	b.Run("manager-100k-keys", func(b *testing.B) {
		m, keys := benchManager(b)
		defer func() {
			b.StopTimer() // closing 100k sessions is not a Token call
			m.Close()
		}()
		b.ReportAllocs()
		b.ResetTimer()
		var seed atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(7919) % benchKeys
			for pb.Next() {
				m.Token(context.Background(), keys[i])
				i = (i + 7919) % benchKeys
			}
		})
	})
}

// BenchmarkManagerMemory reports the heap each key's session costs.
func BenchmarkManagerMemory(b *testing.B) {
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, keys := benchManager(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(keys)), "bytes/key")
		runtime.KeepAlive(keys)
		m.Close()
	}
}
