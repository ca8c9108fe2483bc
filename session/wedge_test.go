//go:build unix

package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
)

// holdLock takes the exclusive flock on path as another process holding a
// family's lock file does: on an open file description of its own. It
// returns the function that lets go.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		})
	}
}

// within runs f and reports whether it returned within d of the bubble's
// time. A call that does not is left running.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestHeldLockNeverWedges: another process takes the family's lock file
// while this session's refresh is in flight and keeps it. The new pair
// cannot be saved, but nothing a caller observes waits for the lock:
// Status, Token with the valid token and the health handler answer at
// once; the save gives up after the request timeout and counts as the
// store being down (StoreError, retried); Shutdown returns by its
// deadline and says which pair it could not save.
func TestHeldLockNeverWedges(t *testing.T) {
	for _, kind := range []string{"coordinator", "file store", "custom store"} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { heldLock(t, kind) })
		})
	}
}

func heldLock(t *testing.T, kind string) {
	path := filepath.Join(t.TempDir(), "family.json")
	fe := newFakeEndpoint(time.Hour)
	fe.Latency = 100 * time.Millisecond
	client := testClient(t, fe, testEndpoint{})
	var mu sync.Mutex
	release := func() {}
	hanging := &hangingStore{}
	r := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		mu.Lock()
		if kind == "custom store" {
			hanging.hang.Store(true)
			release = func() { hanging.hang.Store(false) }
		} else {
			release = holdLock(t, path+".lock") // the other process, for good
		}
		mu.Unlock()
		return client.Refresh(ctx, cur)
	})
	var opt Option
	switch kind {
	case "coordinator":
		opt = WithCoordinator(&FileCoordinator{Path: path})
	case "file store":
		opt = WithStore(&FileStore{Path: path})
	case "custom store":
		opt = WithStore(hanging)
	}
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Minute)}
	s, err := New(context.Background(), r, initial, opt, WithRequestTimeout(2*time.Second), WithRefreshAhead(0),
		WithPolicy(policy.Constant{Wait: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer func() { // before Close: the other process goes away
		mu.Lock()
		defer mu.Unlock()
		release()
	}()
	time.Sleep(time.Minute + 500*time.Millisecond) // the refresh answered at 1m0.1s; its save waits
	var st Status                                  // what ops.HealthHandler answers from
	if !within(time.Second, func() { st = s.Status() }) {
		t.Error("Status waits for the lock another process holds")
		return
	}
	if !st.TokenValid || st.Token != audit.Fingerprint("tok-access-1") {
		t.Errorf("Status while the save waits: %+v", st)
	}
	var tok Token
	if !within(time.Second, func() { tok, err = s.Token(context.Background()) }) || err != nil || tok.Access != "tok-access-1" {
		t.Errorf("Token while the save waits: %v, %v", tok, err)
	}

	time.Sleep(2500 * time.Millisecond) // the save gave up at 1m2.1s, its retry is due at 1m3.1s
	wantErr := ErrLocked
	if kind == "custom store" {
		wantErr = context.DeadlineExceeded // the request timeout
	}
	if st = s.Status(); !errors.Is(st.StoreError, wantErr) || !st.TokenValid {
		t.Errorf("StoreError after the save gave up: %v (token valid %v)", st.StoreError, st.TokenValid)
	}

	time.Sleep(500 * time.Millisecond) // the retry waits for the lock now
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if !within(2*time.Second, func() { err = s.Shutdown(ctx) }) {
		t.Error("Shutdown ignores its deadline while a save waits for the lock")
		return
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v, past its 1s deadline", d)
	}
	var se *SaveError
	if !errors.As(err, &se) || se.Token != audit.Fingerprint("tok-access-1") || !errors.Is(err, wantErr) {
		t.Fatalf("Shutdown = %v; want a *SaveError naming the newest pair, for the lock", err)
	}
	for _, secret := range []string{"tok-access-1", "tok-refresh-1"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Shutdown's error quotes a token: %v", err)
		}
	}
	if !strings.Contains(err.Error(), audit.Fingerprint("tok-access-1")) {
		t.Errorf("Shutdown's error does not name the pair it could not save: %v", err)
	}
	if got, _ := (&FileStore{Path: path}).Load(context.Background()); got.Access == "tok-access-1" {
		t.Error("the pair Shutdown says it could not save is in the store")
	}
}

// hangingStore is a Store whose Save, once hang is set, waits until its
// context ends (a network file system that stopped answering).
type hangingStore struct {
	MemoryStore
	hang atomic.Bool
}

func (h *hangingStore) Save(ctx context.Context, t Token) error {
	if h.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("hanging store: %w", ctx.Err())
	}
	return h.MemoryStore.Save(ctx, t)
}

// TestFileLockWaitIsBounded: with another process holding the family's
// lock file, reads answer at once (writers replace the file atomically, so
// they need no lock), and every write gives up with ErrLocked when its
// context ends or, whatever its context, after the lock timeout.
func TestFileLockWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "family.json")
		c := &FileCoordinator{Path: path, LockTimeout: 3 * time.Second}
		pair := Token{Access: "at-1", Refresh: "rt-1", Expiry: time.Now().Add(time.Hour)}
		if _, err := c.Publish(ctx, "seed", 0, pair); err != nil {
			t.Fatal(err)
		}
		release := holdLock(t, path+".lock")
		defer release()
		start := time.Now()
		if fam, err := c.Read(ctx); err != nil || fam.Generation != 1 || time.Since(start) != 0 {
			t.Errorf("Read with the lock held: %+v, %v after %v", fam, err, time.Since(start))
		}
		if tok, err := (&FileStore{Path: path}).Load(ctx); err != nil || tok.Refresh != "rt-1" || time.Since(start) != 0 {
			t.Errorf("FileStore.Load with the lock held: %v, %v after %v", tok, err, time.Since(start))
		}
		for _, tc := range []struct {
			name  string
			op    func(context.Context) error
			ctx   time.Duration // 0: Background
			after time.Duration
		}{
			{"acquire, no deadline", func(ctx context.Context) error { _, _, err := c.Acquire(ctx, "a", time.Minute); return err }, 0, 3 * time.Second},
			{"acquire, deadline", func(ctx context.Context) error { _, _, err := c.Acquire(ctx, "a", time.Minute); return err }, time.Second, time.Second},
			{"publish, no deadline", func(ctx context.Context) error { _, err := c.Publish(ctx, "a", 1, pair); return err }, 0, 3 * time.Second},
			{"file store save", func(ctx context.Context) error { return (&FileStore{Path: path}).Save(ctx, pair) }, 0, DefaultLockTimeout},
		} {
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx > 0 {
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
			}
			start := time.Now()
			err := tc.op(ctx)
			cancel()
			if !errors.Is(err, ErrLocked) || time.Since(start) != tc.after || !strings.Contains(err.Error(), "locked by another process") {
				t.Errorf("%s: %v after %v, want ErrLocked after %v", tc.name, err, time.Since(start), tc.after)
			}
			if tc.ctx > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v does not say the context ended", tc.name, err)
			}
		}
		release()
		if _, ok, err := c.Acquire(ctx, "a", time.Minute); !ok || err != nil {
			t.Errorf("Acquire once the lock is free: %v %v", ok, err)
		}
	})
}
