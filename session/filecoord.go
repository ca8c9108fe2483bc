package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// DefaultPoll is how often FileCoordinator.Wait reads the family's file
// even when it looks unchanged, unless FileCoordinator.Poll says
// otherwise.
const DefaultPoll = 200 * time.Millisecond

// fileWatchMax bounds the pause between two looks at the family's file
// while Wait waits for a lease: it looks after 1 ms, then twice as long
// each time up to this. A look is a stat: a writer renames a new file over
// the family's, so a new version is another file, and Wait reads only
// that. (Watching the file through inotify would keep testing/synctest's
// clock from moving while a goroutine reads the inotify descriptor, and
// a stat costs a microsecond.)
const fileWatchMax = 10 * time.Millisecond

// FileCoordinator is a Coordinator for the processes of one host: the
// family's pair and its coordination state live in the file at Path (mode
// 0600, replaced atomically, readable by a FileStore on the same path), and
// every operation that changes the family holds an exclusive lock (flock)
// on Path+".lock" while it reads and rewrites that file; Read and Wait take
// no lock. Waiting for the lock is bounded by the operation's context and by
// LockTimeout: a process that stopped while holding it makes the store
// look down (ErrLocked), never wedges another. Leases are measured on the
// host's clock. A change of the lease alone is written without syncing
// the file's directory (a lease means nothing after the host crashed); the
// pair, its generation and the in-flight mark are written durably.
//
// Wait looks for a new version of the file (a stat, no read) after 1 ms,
// then twice as long each time up to 10 ms while it waits for a lease, up
// to Poll while it waits for a pair alone (WaitGeneration), and reads the
// file when it changed, when the lease it waits for lapses, and at least
// every Poll (with ±20 % jitter). It skips its first read when nothing
// changed since this coordinator's last operation read the file.
//
// Use it in place of a Store (WithCoordinator): each process of the family
// gets a FileCoordinator on the same Path. A Session with a FileStore uses
// one on the FileStore's Path by itself. It needs flock (Unix); on other
// platforms every operation but Read and Wait fails. It must not be copied
// after first use.
type FileCoordinator struct {
	// Path is the family's file; its directory must exist.
	Path string
	// Poll bounds how long Wait goes without reading the file; 0 means
	// DefaultPoll.
	Poll time.Duration
	// LockTimeout bounds each wait for the lock on Path+".lock", whatever
	// the caller's context; 0 means DefaultLockTimeout. A wait that gives
	// up fails with ErrLocked.
	LockTimeout time.Duration

	// seen is the family as this coordinator's last operation left it,
	// and the file's version then, so that Wait need not read it again.
	mu   sync.Mutex
	seen struct {
		fam     Family
		version os.FileInfo // nil: there was no file
		ok      bool
	}

	// waiting, when set (by tests), is called each time Wait (lease true)
	// or WaitGeneration is about to block.
	waiting func(lease bool)
}

var _ FamilyAcquirer = (*FileCoordinator)(nil)

// remember records fam, as the file's version version holds it.
func (c *FileCoordinator) remember(fam Family, version os.FileInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen.fam, c.seen.version, c.seen.ok = fam, version, true
}

// recall returns what remember recorded last.
func (c *FileCoordinator) recall() (Family, os.FileInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.fam, c.seen.version, c.seen.ok
}

// Read implements Coordinator. It reads the file without taking the lock
// (writers replace it atomically), so it never waits for another process.
func (c *FileCoordinator) Read(ctx context.Context) (Family, error) {
	fam, _, err := c.read(ctx)
	return fam, err
}

// read is Read, which also returns the version it read.
func (c *FileCoordinator) read(ctx context.Context) (Family, os.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return Family{}, nil, fmt.Errorf("session: file coordinator: %w", err)
	}
	f, version, err := readFamily(c.Path)
	switch {
	case errors.Is(err, errMalformed):
		return Family{}, nil, fmt.Errorf("session: file coordinator: %s is not a family file (malformed JSON)", c.Path)
	case err != nil:
		return Family{}, nil, fmt.Errorf("session: file coordinator: %w", err)
	}
	fam := f.family(time.Now())
	c.remember(fam, version)
	return fam, version, nil
}

// Acquire implements Coordinator.
func (c *FileCoordinator) Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error) {
	fam, ok, err := c.acquire(ctx, holder, ttl, 0, false)
	return fam.Lease, ok, err
}

// AcquireFamily implements FamilyAcquirer: the family is the one read
// under the lock.
func (c *FileCoordinator) AcquireFamily(ctx context.Context, holder string, ttl time.Duration, gen uint64) (Family, bool, error) {
	return c.acquire(ctx, holder, ttl, gen, true)
}

// acquire is Acquire, and with onGen AcquireFamily.
func (c *FileCoordinator) acquire(ctx context.Context, holder string, ttl time.Duration, gen uint64, onGen bool) (Family, bool, error) {
	var ok bool
	fam, err := c.update(ctx, func(f *familyFile, now time.Time) change {
		if l := f.lease(); l.Held(now) && l.Holder != holder || onGen && f.Generation != gen {
			return unchanged
		}
		f.Lease = &leaseF{Holder: holder, Until: now.Add(ttl)}
		ok = true
		return leaseChanged
	})
	return fam, ok, err
}

// MarkInFlight implements Coordinator.
func (c *FileCoordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	lost := false
	_, err := c.update(ctx, func(f *familyFile, now time.Time) change {
		if l := f.lease(); !l.Held(now) || l.Holder != holder {
			lost = true
			return unchanged
		}
		// A mark on the same generation keeps its first instant: the
		// token may have been spent then, and a reuse grace runs from it.
		at := now
		if f.InFlight != nil && f.InFlight.Generation == gen {
			at = f.InFlight.At
		}
		f.InFlight = &flightF{Holder: holder, Generation: gen, At: at}
		return changed
	})
	if err == nil && lost {
		err = ErrLeaseLost
	}
	return err
}

// Publish implements Coordinator.
func (c *FileCoordinator) Publish(ctx context.Context, holder string, gen uint64, pair Token) (uint64, error) {
	var moved *GenerationError
	var next uint64
	_, err := c.update(ctx, func(f *familyFile, now time.Time) change {
		if f.Generation != gen {
			moved = &GenerationError{Want: gen, Got: f.Generation}
			return unchanged
		}
		f.storedToken = toStored(pair)
		f.Generation++
		next = f.Generation
		f.InFlight = nil
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease = nil
		}
		return changed
	})
	if err == nil && moved != nil {
		err = moved
	}
	return next, err
}

// Release implements Coordinator.
func (c *FileCoordinator) Release(ctx context.Context, holder string, spent bool) error {
	_, err := c.update(ctx, func(f *familyFile, now time.Time) change {
		c := unchanged
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease, c = nil, leaseChanged
		}
		if !spent && f.InFlight != nil && f.InFlight.Holder == holder {
			f.InFlight, c = nil, changed
		}
		return c
	})
	return err
}

// Wait implements Coordinator: it returns when the generation differs from
// gen or the lease is free, or ctx ends, looking at the file as
// FileCoordinator says.
func (c *FileCoordinator) Wait(ctx context.Context, gen uint64) (Family, error) {
	return c.wait(ctx, gen, true)
}

// WaitGeneration implements GenerationWaiter: it returns when the
// generation differs from gen, or ctx ends.
func (c *FileCoordinator) WaitGeneration(ctx context.Context, gen uint64) (Family, error) {
	return c.wait(ctx, gen, false)
}

// wait returns when the generation differs from gen or, with lease, the
// lease is free.
func (c *FileCoordinator) wait(ctx context.Context, gen uint64, lease bool) (Family, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	lookMax := fileWatchMax
	if !lease {
		lookMax = poll
	}
	done := func(fam Family, now time.Time) bool {
		return fam.Generation != gen || lease && !fam.Lease.Held(now)
	}
	// The family as this coordinator last saw it serves while the file is
	// that version still: no read.
	fam, version, ok := c.recall()
	need := !ok || done(fam, time.Now()) || !sameVersion(c.Path, version)
	var readBy time.Time // when to read even if the file looks unchanged
	look := time.Millisecond
	for {
		if need {
			fileOps.watched.Add(1)
			var err error
			if fam, version, err = c.read(ctx); err != nil || done(fam, fam.Now) {
				return fam, err
			}
		}
		if need || readBy.IsZero() {
			readBy = time.Now().Add(time.Duration(float64(poll) * (0.8 + 0.4*rand.Float64())))
		}
		if c.waiting != nil {
			c.waiting(lease)
		}
		pause := look
		if lease {
			pause = min(pause, time.Until(fam.Lease.Until))
		}
		t := time.NewTimer(max(pause, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return fam, ctx.Err()
		case <-t.C:
		}
		look = min(2*look, lookMax)
		now := time.Now()
		polled := !now.Before(readBy)
		need = polled || done(fam, now) || !sameVersion(c.Path, version)
		if rf, rv, ok := c.recall(); need && !polled && ok && rv != version && sameVersion(c.Path, rv) {
			// The new version is this coordinator's own last operation's
			// (a publish, a lease, a mark): no read.
			rf.Now = now
			if done(rf, now) {
				return rf, nil
			}
			fam, version, need = rf, rv, false
		}
	}
}

// update runs fn on the family's state under the lock, writes the state
// back when fn reports a change, and returns the family as it left it.
func (c *FileCoordinator) update(ctx context.Context, fn func(f *familyFile, now time.Time) change) (Family, error) {
	limit := c.LockTimeout
	if limit <= 0 {
		limit = DefaultLockTimeout
	}
	var fam Family
	version, err := updateFamily(ctx, c.Path, "session: file coordinator", limit, false, func(f *familyFile, now time.Time) change {
		ch := fn(f, now)
		fam = f.family(now)
		return ch
	})
	if err != nil {
		return Family{}, err
	}
	c.remember(fam, version)
	return fam, nil
}
