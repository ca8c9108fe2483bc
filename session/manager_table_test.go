package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// countingRefresher hands out access-1, access-2, … valid for a day.
func countingRefresher() Refresher {
	var n atomic.Int64
	return RefresherFunc(func(context.Context, Token) (Token, error) {
		now := time.Now()
		return Token{Access: Secret(fmt.Sprintf("access-%d", n.Add(1))), Refresh: "r", Issued: now, Expiry: now.Add(24 * time.Hour)}, nil
	})
}

// TestManagerTokenFollowsTheSession: Token serves a key's token from the
// key table, which must follow every snapshot the session takes — a new
// pair, a rejected token, the session's end.
func TestManagerTokenFollowsTheSession(t *testing.T) {
	ctx := context.Background()
	m := NewManager(func(ctx context.Context, key string) (*Session, error) {
		now := time.Now()
		return New(ctx, countingRefresher(), Token{Access: "first", Refresh: "r", Issued: now, Expiry: now.Add(time.Hour)})
	})
	defer m.Close()
	want := func(step string, access Secret) {
		t.Helper()
		tok, err := m.Token(ctx, "k")
		if err != nil || tok.Access != access {
			t.Fatalf("%s: Token = %q, %v; want %q", step, tok.Access.Reveal(), err, access.Reveal())
		}
	}
	want("start", "first")
	s, err := m.Session(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, sl := m.shardOf(m.hash("k")).find(m.hash("k"), "k"); sl == nil || sl.p.Load() == nil {
		t.Fatal("the key table does not hold the session's snapshot: Token's fast path is not taken")
	}
	now := time.Now()
	if err := s.SetToken(ctx, Token{Access: "set", Refresh: "r", Issued: now, Expiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	want("after SetToken", "set")
	s.Reject("set")
	want("after Reject", "access-1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the session closed: Token = %v, want ErrClosed", err)
	}
}

// TestManagerSharedSessionIsNotMirrored: a factory that returns one session
// for two keys gets the session's current token for both; only the first
// key's slot follows the session.
func TestManagerSharedSessionIsNotMirrored(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	shared, err := New(ctx, countingRefresher(), Token{Access: "first", Refresh: "r", Issued: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	m := NewManager(func(context.Context, string) (*Session, error) { return shared, nil })
	defer m.Close()
	for _, k := range []string{"a", "b"} {
		if tok, err := m.Token(ctx, k); err != nil || tok.Access != "first" {
			t.Fatalf("Token(%s) = %q, %v", k, tok.Access.Reveal(), err)
		}
	}
	if err := shared.SetToken(ctx, Token{Access: "set", Refresh: "r", Issued: now, Expiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if tok, err := m.Token(ctx, k); err != nil || tok.Access != "set" {
			t.Fatalf("after SetToken: Token(%s) = %q, %v; want set", k, tok.Access.Reveal(), err)
		}
	}
}

// TestManagerTableChurn: keys come and go far beyond the cap, so the key
// tables fill with deleted slots and are rebuilt many times; every lookup
// still finds its own key's session.
func TestManagerTableChurn(t *testing.T) {
	ctx := context.Background()
	var created atomic.Int64
	m := NewManager(testFactory(&created, clock.New()), WithMaxSessions(16))
	defer m.Close()
	for round := range 3 {
		for i := range 2000 {
			k := fmt.Sprintf("user-%d", (i*7+round)%2000)
			tok, err := m.Token(ctx, k)
			if err != nil || tok.Access != Secret("access-"+k) {
				t.Fatalf("Token(%s) = %q, %v", k, tok.Access.Reveal(), err)
			}
		}
	}
	if n := m.Len(); n > 16 {
		t.Errorf("holds %d sessions, cap 16", n)
	}
	slots := 0
	for i := range m.shards {
		if tb := m.shards[i].t.Load(); tb != nil {
			slots += len(tb.slots)
		}
	}
	if slots > 64*16 {
		t.Errorf("the tables hold %d slots for at most 16 keys: deleted slots are not reclaimed", slots)
	}
}

// TestManagerConcurrentChurn runs lookups, creations, evictions and idle
// closing at once, for the race detector. A key evicted twice between its
// lookup and its call gets ErrClosed (see Manager.Token), never another
// key's token.
func TestManagerConcurrentChurn(t *testing.T) {
	ctx := context.Background()
	var created atomic.Int64
	m := NewManager(testFactory(&created, clock.New()), WithMaxSessions(40), WithIdleTimeout(time.Millisecond))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("user-%d", (i*(g+3))%100)
				tok, err := m.Token(ctx, k)
				if errors.Is(err, ErrClosed) {
					continue
				}
				if err != nil || tok.Access != Secret("access-"+k) {
					t.Errorf("Token(%s) = %q, %v", k, tok.Access.Reveal(), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestManagerTouchDuringRebuild: a use recorded in a slot that a rebuild
// has just copied is recorded in the new table too, or an idle sweep could
// close a session in use.
func TestManagerTouchDuringRebuild(t *testing.T) {
	mock := clock.NewMock()
	var created atomic.Int64
	m := NewManager(testFactory(&created, mock), WithManagerClock(mock))
	defer m.Close()
	if _, err := m.Session(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	h := m.hash("k")
	sh := m.shardOf(h)
	old, sl := sh.find(h, "k")
	sh.mu.Lock()
	sh.rebuild(old) // the rebuild copies the slot's last use first
	sh.mu.Unlock()
	later := mock.Now().Add(time.Minute).UnixNano()
	sh.touch(old, sl, later) // then a lookup on the old table records a use
	if _, nsl := sh.find(h, "k"); nsl == sl || nsl.used.Load() != later {
		t.Fatalf("the new table's slot says last used at %d, want %d", nsl.used.Load(), later)
	}
}
