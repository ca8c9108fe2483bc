package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestFileCoordinatorContract checks FileCoordinator against the
// Coordinator contract, step by step.
func TestFileCoordinatorContract(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json"), Poll: 10 * time.Millisecond}
		fam, err := c.Read(ctx)
		if err != nil || fam.Generation != 0 || fam.Pair.Access != "" {
			t.Fatalf("empty family: %+v, %v", fam, err)
		}
		// The lease: taken, extended by its holder, refused to another
		// with the holder's lease, free once it lapses.
		if _, ok, err := c.Acquire(ctx, "a", 10*time.Second); !ok || err != nil {
			t.Fatalf("a acquire: %v %v", ok, err)
		}
		if l, ok, _ := c.Acquire(ctx, "b", time.Second); ok || l.Holder != "a" {
			t.Fatalf("b acquired a's lease: %v %+v", ok, l)
		}
		time.Sleep(5 * time.Second)
		if l, ok, _ := c.Acquire(ctx, "a", 10*time.Second); !ok || !l.Until.Equal(time.Now().Add(10*time.Second)) {
			t.Fatalf("a extend: %v %+v", ok, l)
		}
		if err := c.MarkInFlight(ctx, "b", 0); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("b marked without the lease: %v", err)
		}
		if err := c.MarkInFlight(ctx, "a", 0); err != nil {
			t.Fatal(err)
		}
		marked := time.Now()
		time.Sleep(11 * time.Second) // a's lease lapses
		if _, ok, _ := c.Acquire(ctx, "b", 10*time.Second); !ok {
			t.Fatal("b could not take over a lapsed lease")
		}
		fam, _ = c.Read(ctx)
		if fam.InFlight.Holder != "a" || !fam.InFlight.At.Equal(marked) || fam.Lease.Holder != "b" {
			t.Fatalf("after the take-over: %+v", fam)
		}
		// Re-marking the same generation keeps the first instant.
		if err := c.MarkInFlight(ctx, "b", 0); err != nil {
			t.Fatal(err)
		}
		if fam, _ = c.Read(ctx); fam.InFlight.Holder != "b" || !fam.InFlight.At.Equal(marked) {
			t.Fatalf("re-marked: %+v", fam.InFlight)
		}
		// Publish after a's lease lapsed still succeeds for a (it holds the
		// only copy of the rotated token); b's compare-and-swap then fails.
		pair := Token{Access: "at-1", Refresh: "rt-1", Issued: time.Now(), Expiry: time.Now().Add(time.Hour)}
		if gen, err := c.Publish(ctx, "a", 0, pair); gen != 1 || err != nil {
			t.Fatalf("a publish: %d %v", gen, err)
		}
		var ge *GenerationError
		if _, err := c.Publish(ctx, "b", 0, pair); !errors.As(err, &ge) || ge.Want != 0 || ge.Got != 1 || !errors.Is(err, ErrGenerationMoved) {
			t.Fatalf("b publish from a stale generation: %v", err)
		}
		fam, _ = c.Read(ctx)
		if fam.Generation != 1 || fam.Pair.Refresh != "rt-1" || fam.InFlight.Holder != "" || fam.Lease.Holder != "b" {
			t.Fatalf("after the publish: %+v", fam)
		}
		// Release: spent keeps b's mark, not spent clears it; releasing a
		// lease one does not hold is harmless.
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
		// The file is FileStore-readable and 0600.
		if tok, err := (&FileStore{Path: c.Path}).Load(ctx); err != nil || tok.Refresh != "rt-1" {
			t.Fatalf("FileStore on the family file: %v %v", tok, err)
		}
		if st, _ := os.Stat(c.Path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", st.Mode().Perm())
		}
	})
}

// TestFileCoordinatorWait: Wait returns on a publish, on a released lease,
// and when ctx ends.
func TestFileCoordinatorWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json"), Poll: 10 * time.Millisecond}
		c.Acquire(ctx, "a", time.Minute)
		go func() {
			time.Sleep(time.Second)
			c.Publish(ctx, "a", 0, Token{Access: "at", Expiry: time.Now().Add(time.Hour)})
		}()
		if fam, err := c.Wait(ctx, 0); err != nil || fam.Generation != 1 {
			t.Fatalf("Wait for a publish: %+v %v", fam, err)
		}
		c.Acquire(ctx, "a", time.Minute)
		go func() {
			time.Sleep(time.Second)
			c.Release(ctx, "a", false)
		}()
		if fam, err := c.Wait(ctx, 1); err != nil || fam.Lease.Holder != "" {
			t.Fatalf("Wait for a release: %+v %v", fam, err)
		}
		c.Acquire(ctx, "a", time.Minute)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.Wait(wctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait past its context: %v", err)
		}
	})
}

// TestFileCoordinatorWaitSeesAPublishSoon: a process waiting for another's
// lease sees its publish within fileWatchMax (it looked at the file every
// 200 ms: a waiter adopted 169 ms after the publish on average), and it
// reads the file only once it changed.
func TestFileCoordinatorWaitSeesAPublishSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "family.json")
		holder := &FileCoordinator{Path: path}
		blocked := make(chan struct{}, 1)
		waiter := &FileCoordinator{Path: path, waiting: func(bool) {
			select {
			case blocked <- struct{}{}:
			default:
			}
		}}
		if _, ok, err := holder.Acquire(ctx, "holder", time.Minute); !ok || err != nil {
			t.Fatalf("Acquire: %v, %v", ok, err)
		}
		type woken struct {
			fam Family
			at  time.Time
			err error
		}
		done := make(chan woken, 1)
		go func() {
			fam, err := waiter.Wait(ctx, 0)
			done <- woken{fam, time.Now(), err}
		}()
		time.Sleep(10 * time.Second) // long into the wait
		<-blocked
		<-blocked // it has just looked, and blocks
		reads := fileOps.reads.Load()
		if _, err := holder.Publish(ctx, "holder", 0, Token{Access: "at", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		published := time.Now()
		w := <-done
		if w.err != nil || w.fam.Generation != 1 {
			t.Fatalf("Wait = %+v, %v", w.fam, w.err)
		}
		if d := w.at.Sub(published); d > fileWatchMax {
			t.Errorf("Wait returned %v after the publish, want at most %v", d, fileWatchMax)
		}
		if n := fileOps.reads.Load() - reads - 1; n != 1 { // the publish read it under the lock
			t.Errorf("Wait read the file %d times after the publish, want once", n)
		}
	})
}

// TestFileCoordinatorRace: goroutines racing for the lease get exactly one
// holder; a broken family file is a clear error that quotes no secret.
func TestFileCoordinatorRace(t *testing.T) {
	ctx := context.Background()
	c := &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json")}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, ok, err := c.Acquire(ctx, string(rune('a'+i)), time.Minute); ok && err == nil {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d holders", won.Load())
	}
	os.WriteFile(c.Path, []byte(`{"access_token":"SECRET-AT","generation":`), 0o600)
	if _, err := c.Read(ctx); err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "not a family file") {
		t.Fatalf("broken file: %v", err)
	}
}
