package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultPoll is how often FileCoordinator.Wait looks at the family's file
// unless FileCoordinator.Poll says otherwise.
const DefaultPoll = 200 * time.Millisecond

// FileCoordinator is a Coordinator for the processes of one host: the
// family's pair and its coordination state live in the file at Path (mode
// 0600, replaced atomically, readable by a FileStore on the same path), and
// every operation that changes the family holds an exclusive lock (flock)
// on Path+".lock" while it reads and rewrites that file; Read and Wait take
// no lock. Waiting for the lock is bounded by the operation's context and by
// LockTimeout: a process that stopped while holding it makes the store
// look down (ErrLocked), never wedges another. Leases are measured on the
// host's clock. Wait polls the file (Poll, with ±20 % jitter).
//
// Use it in place of a Store (WithCoordinator): each process of the family
// gets a FileCoordinator on the same Path. A Session with a FileStore uses
// one on the FileStore's Path by itself. It needs flock (Unix); on other
// platforms every operation but Read and Wait fails.
type FileCoordinator struct {
	// Path is the family's file; its directory must exist.
	Path string
	// Poll is Wait's polling interval; 0 means DefaultPoll.
	Poll time.Duration
	// LockTimeout bounds each wait for the lock on Path+".lock", whatever
	// the caller's context; 0 means DefaultLockTimeout. A wait that gives
	// up fails with ErrLocked.
	LockTimeout time.Duration

	// waiting, when set (by tests), is called each time Wait is about to
	// block, after a read that did not end the wait.
	waiting func()
}

// Read implements Coordinator. It reads the file without taking the lock
// (writers replace it atomically), so it never waits for another process.
func (c *FileCoordinator) Read(ctx context.Context) (Family, error) {
	if err := ctx.Err(); err != nil {
		return Family{}, fmt.Errorf("session: file coordinator: %w", err)
	}
	f, _, err := readFamily(c.Path)
	switch {
	case errors.Is(err, errMalformed):
		return Family{}, fmt.Errorf("session: file coordinator: %s is not a family file (malformed JSON)", c.Path)
	case err != nil:
		return Family{}, fmt.Errorf("session: file coordinator: %w", err)
	}
	return f.family(time.Now()), nil
}

// Acquire implements Coordinator.
func (c *FileCoordinator) Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error) {
	var got Lease
	var ok bool
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if l := f.lease(); l.Held(now) && l.Holder != holder {
			got = l
			return false
		}
		f.Lease = &leaseF{Holder: holder, Until: now.Add(ttl)}
		got, ok = f.lease(), true
		return true
	})
	return got, ok, err
}

// MarkInFlight implements Coordinator.
func (c *FileCoordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	lost := false
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if l := f.lease(); !l.Held(now) || l.Holder != holder {
			lost = true
			return false
		}
		// A mark on the same generation keeps its first instant: the
		// token may have been spent then, and a reuse grace runs from it.
		at := now
		if f.InFlight != nil && f.InFlight.Generation == gen {
			at = f.InFlight.At
		}
		f.InFlight = &flightF{Holder: holder, Generation: gen, At: at}
		return true
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
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if f.Generation != gen {
			moved = &GenerationError{Want: gen, Got: f.Generation}
			return false
		}
		f.storedToken = toStored(pair)
		f.Generation++
		next = f.Generation
		f.InFlight = nil
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease = nil
		}
		return true
	})
	if err == nil && moved != nil {
		err = moved
	}
	return next, err
}

// Release implements Coordinator.
func (c *FileCoordinator) Release(ctx context.Context, holder string, spent bool) error {
	return c.update(ctx, func(f *familyFile, now time.Time) bool {
		changed := false
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease, changed = nil, true
		}
		if !spent && f.InFlight != nil && f.InFlight.Holder == holder {
			f.InFlight, changed = nil, true
		}
		return changed
	})
}

// Wait implements Coordinator: it polls the file until the generation
// differs from gen or the lease is free, or ctx ends.
func (c *FileCoordinator) Wait(ctx context.Context, gen uint64) (Family, error) {
	return c.wait(ctx, gen, true)
}

// WaitGeneration implements GenerationWaiter: it polls the file until the
// generation differs from gen, or ctx ends.
func (c *FileCoordinator) WaitGeneration(ctx context.Context, gen uint64) (Family, error) {
	return c.wait(ctx, gen, false)
}

// wait polls the file until the generation differs from gen or, with
// lease, the lease is free.
func (c *FileCoordinator) wait(ctx context.Context, gen uint64, lease bool) (Family, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	for {
		fam, err := c.Read(ctx)
		if err != nil || fam.Generation != gen || lease && !fam.Lease.Held(fam.Now) {
			return fam, err
		}
		if c.waiting != nil {
			c.waiting()
		}
		jittered := time.Duration(float64(poll) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return fam, ctx.Err()
		case <-time.After(jittered):
		}
	}
}

// update runs fn on the family's state under the lock and writes the state
// back when fn reports a change.
func (c *FileCoordinator) update(ctx context.Context, fn func(f *familyFile, now time.Time) bool) error {
	limit := c.LockTimeout
	if limit <= 0 {
		limit = DefaultLockTimeout
	}
	return updateFamily(ctx, c.Path, "session: file coordinator", limit, false, fn)
}
