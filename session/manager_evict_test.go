package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"
)

// slowFamilies is a Manager factory whose keys each keep their pair in a
// MemoryStore. Key "a" starts with an expired token, so its session
// refreshes at once, and its identity provider takes 2.9 s to answer with
// a rotated pair; every other key starts with a valid token.
type slowFamilies struct {
	mu       sync.Mutex
	stores   map[string]*MemoryStore
	sessions map[string][]*Session
	calls    atomic.Int32 // refreshes of key "a"
}

// slowIdP is how long the identity provider takes to answer key a's
// refresh: 2.9 s are still to go when key b is asked for, 1 s later.
const slowIdP = 3900 * time.Millisecond

func newSlowFamilies() *slowFamilies {
	now := time.Now()
	f := &slowFamilies{stores: map[string]*MemoryStore{}, sessions: map[string][]*Session{}}
	for _, k := range []string{"a", "b", "c"} {
		st := &MemoryStore{}
		exp := now.Add(time.Hour)
		if k == "a" {
			exp = now.Add(-time.Minute)
		}
		st.Save(context.Background(), Token{Access: Secret("access-" + k), Refresh: Secret("refresh-" + k), Issued: now.Add(-time.Hour), Expiry: exp})
		f.stores[k] = st
	}
	return f
}

func (f *slowFamilies) factory(ctx context.Context, key string) (*Session, error) {
	r := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		f.calls.Add(1)
		time.Sleep(slowIdP) // the identity provider's latency
		if cur.Refresh != "refresh-a" {
			return Token{}, &EndpointError{Status: 400, Code: "invalid_grant"} // a rotated-away token
		}
		return Token{Access: "access-a-1", Refresh: "refresh-a-1", Expiry: time.Now().Add(time.Hour)}, nil
	})
	f.mu.Lock()
	st := f.stores[key]
	f.mu.Unlock()
	s, err := New(ctx, r, Token{}, WithStore(st), WithID(key), WithRequestTimeout(10*time.Second))
	if err == nil {
		f.mu.Lock()
		f.sessions[key] = append(f.sessions[key], s)
		f.mu.Unlock()
	}
	return s, err
}

func (f *slowFamilies) stored(t *testing.T, key string) Token {
	t.Helper()
	tok, err := f.stores[key].Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// evictSlow makes a Manager capped at one session whose only session, key
// "a", has a slow refresh in flight, and asks for key b's token with a
// 200 ms deadline, which evicts "a". It returns how long that took.
func evictSlow(t *testing.T, f *slowFamilies) (*Manager, time.Duration) {
	t.Helper()
	m := NewManager(f.factory, WithMaxSessions(1))
	t.Cleanup(func() { m.Close() })
	if _, err := m.Session(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	synctest.Wait() // a's refresh is in flight
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("%d refreshes of a in flight, want 1", got)
	}
	time.Sleep(time.Second) // a is the least recently used
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	tok, err := m.Token(ctx, "b")
	took := time.Since(start)
	if err != nil || tok.Access != "access-b" {
		t.Fatalf("Token(b) = %v, %v after %v", tok.Access, err, took)
	}
	return m, took
}

// TestManagerEvictDoesNotBlock: Token for a new key honours its context
// while the least recently used session, whose refresh is in flight, is
// evicted: the evicted session shuts down in the background, lets its
// refresh finish and saves the rotated pair to its store, and the key's
// next session starts from that pair.
func TestManagerEvictDoesNotBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSlowFamilies()
		m, took := evictSlow(t, f)
		if took > 200*time.Millisecond {
			t.Errorf("Token for a new key took %v behind the evicted session's refresh, want at most its 200 ms deadline", took)
		}
		if m.Len() != 1 {
			t.Errorf("holds %d sessions, want 1", m.Len())
		}
		evicted := f.sessions["a"][0]
		if _, err := evicted.Token(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("the evicted session: Token = %v, want ErrClosed", err)
		}

		time.Sleep(slowIdP - time.Second) // the refresh ends; the evicted session saves its answer
		synctest.Wait()
		if got := f.stored(t, "a"); got.Refresh != "refresh-a-1" || got.Access != "access-a-1" {
			t.Fatalf("a's store holds %q/%q after the evicted session's refresh, want the rotated pair", got.Access, got.Refresh)
		}
		tok, err := m.Token(context.Background(), "a")
		if err != nil || tok.Access != "access-a-1" || f.calls.Load() != 1 {
			t.Fatalf("a again: Token = %q, %v after %d refreshes; want the saved pair, no new refresh", tok.Access, err, f.calls.Load())
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestManagerEvictedKeyWaitsForItsShutdown: a key asked for again while its
// evicted session is still shutting down waits for that shutdown (within
// its context) instead of starting from the store's pair, whose refresh
// token the refresh in flight is about to rotate away. A caller whose
// deadline ends the wait does not hand its deadline's error to another
// caller of the key that is still willing to wait.
func TestManagerEvictedKeyWaitsForItsShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSlowFamilies()
		m, _ := evictSlow(t, f)

		hasty := make(chan error, 1)
		start := time.Now()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := m.Token(ctx, "a")
			if took := time.Since(start); took > 200*time.Millisecond {
				err = fmt.Errorf("returned after %v: %w", took, err)
			}
			hasty <- err
		}()
		synctest.Wait() // the hasty caller waits for a's shutdown
		tok, err := m.Token(context.Background(), "a")
		if err != nil || tok.Access != "access-a-1" {
			t.Fatalf("a: Token = %q, %v; want the pair the evicted session saved", tok.Access, err)
		}
		if err := <-hasty; !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "returned after") {
			t.Errorf("a with a 200 ms deadline while its evicted session shuts down: %v, want the deadline's error in time", err)
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("%d refreshes of a, want 1: the new session presented a rotated-away refresh token", n)
		}
	})
}

// TestManagerCloseWaitsForEvicted: Close returns only once the sessions it
// evicted in the background have shut down, their rotated pairs saved.
func TestManagerCloseWaitsForEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSlowFamilies()
		m, _ := evictSlow(t, f)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if got := f.stored(t, "a"); got.Refresh != "refresh-a-1" {
			t.Errorf("a's store holds %q after Close, want the rotated refresh token", got.Refresh)
		}
	})
}

// TestManagerEvictsOthersFirst: the session a caller has just created is
// not the one its own eviction closes, even when every session was last
// used at the same instant (idleness is measured in seconds).
func TestManagerEvictsOthersFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var created atomic.Int64
		m := NewManager(testFactory(&created, clock.New()), WithMaxSessions(1))
		defer m.Close()
		for _, k := range []string{"a", "b", "c", "d"} {
			if tok, err := m.Token(context.Background(), k); err != nil || tok.Access != Secret("access-"+k) {
				t.Fatalf("Token(%s) = %q, %v", k, tok.Access, err)
			}
			if _, ok := m.lookup(k); !ok || m.Len() != 1 {
				t.Fatalf("after Token(%s): kept %v, holds %d; want only %s", k, ok, m.Len(), k)
			}
		}
		if created.Load() != 4 {
			t.Errorf("created %d sessions, want 4", created.Load())
		}
	})
}

// TestManagerTokenAfterEvictions: a key whose session is evicted between
// Manager.Token's lookup and its call of the session's Token — twice, each
// time by another key's session beyond a cap of one, shut down before the
// call — gets its token from the session made after, never ErrClosed; a
// session closed by its user, and not evicted, still answers ErrClosed.
func TestManagerTokenAfterEvictions(t *testing.T) {
	var created atomic.Int64
	mock := clock.NewMock()
	m := NewManager(testFactory(&created, mock), WithMaxSessions(1), WithManagerClock(mock))
	defer m.Close()
	ctx := context.Background()
	evictions := 0
	m.beforeToken = func(key string) {
		if key != "a" || evictions == 2 {
			return
		}
		evictions++
		mock.Add(time.Second)
		if _, err := m.Session(ctx, fmt.Sprintf("other-%d", evictions)); err != nil {
			t.Fatal(err)
		}
		if err := m.awaitShutdown(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := m.Token(ctx, "a")
	if err != nil || tok.Access != "access-a" {
		t.Fatalf("Token(a) after two evictions = %v, %v; want a's token", tok.Access, err)
	}
	if evictions != 2 || created.Load() != 5 {
		t.Errorf("%d evictions, %d sessions made; want 2 and 5 (a, other-1, a, other-2, a)", evictions, created.Load())
	}

	s, err := m.Session(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := m.Token(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Token(a) of a session its user closed = %v; want ErrClosed", err)
	}
}
