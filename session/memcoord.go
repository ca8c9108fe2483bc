package session

import (
	"context"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// MemoryCoordinator is a Coordinator in memory, for the sessions of one
// process that share a token family (a test, a program that runs several
// sessions of one client) and for tests of the protocol. Its times are
// Clock's (the real clock when nil). The zero value is an empty family,
// ready to use; it must not be copied after first use.
type MemoryCoordinator struct {
	// Clock is the coordinator's clock; nil means the real one.
	Clock clock.Clock

	mu      sync.Mutex
	fam     Family
	changed chan struct{} // closed and replaced on every change
}

func (m *MemoryCoordinator) now() time.Time {
	if m.Clock == nil {
		return time.Now()
	}
	return m.Clock.Now()
}

// update runs fn on the family under the lock at the coordinator's now,
// and wakes the waiters when fn reports a change.
func (m *MemoryCoordinator) update(ctx context.Context, fn func(f *Family, now time.Time) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if fn(&m.fam, m.now()) && m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
	return nil
}

// read returns the family as Read reports it at now: a lapsed lease is
// none. mu is held.
func (m *MemoryCoordinator) read(now time.Time) Family {
	f := m.fam
	if !f.Lease.Held(now) {
		f.Lease = Lease{}
	}
	f.Now = now
	return f
}

// Read implements Coordinator.
func (m *MemoryCoordinator) Read(ctx context.Context) (Family, error) {
	var fam Family
	err := m.update(ctx, func(_ *Family, now time.Time) bool {
		fam = m.read(now)
		return false
	})
	return fam, err
}

// Acquire implements Coordinator.
func (m *MemoryCoordinator) Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error) {
	fam, ok, err := m.acquire(ctx, holder, ttl, 0, false)
	return fam.Lease, ok, err
}

// AcquireFamily implements FamilyAcquirer.
func (m *MemoryCoordinator) AcquireFamily(ctx context.Context, holder string, ttl time.Duration, gen uint64) (Family, bool, error) {
	return m.acquire(ctx, holder, ttl, gen, true)
}

// acquire is Acquire, and with onGen AcquireFamily.
func (m *MemoryCoordinator) acquire(ctx context.Context, holder string, ttl time.Duration, gen uint64, onGen bool) (Family, bool, error) {
	var fam Family
	var ok bool
	err := m.update(ctx, func(f *Family, now time.Time) bool {
		if f.Lease.Held(now) && f.Lease.Holder != holder || onGen && f.Generation != gen {
			fam = m.read(now)
			return false
		}
		f.Lease = Lease{Holder: holder, Until: now.Add(ttl)}
		fam, ok = m.read(now), true
		return true
	})
	return fam, ok, err
}

// MarkInFlight implements Coordinator.
func (m *MemoryCoordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	lost := false
	err := m.update(ctx, func(f *Family, now time.Time) bool {
		if !f.Lease.Held(now) || f.Lease.Holder != holder {
			lost = true
			return false
		}
		at := now
		if f.InFlight.Holder != "" && f.InFlight.Generation == gen {
			at = f.InFlight.At // the first instant: the reuse grace runs from it
		}
		f.InFlight = InFlight{Holder: holder, Generation: gen, At: at}
		return true
	})
	if err == nil && lost {
		err = ErrLeaseLost
	}
	return err
}

// Publish implements Coordinator.
func (m *MemoryCoordinator) Publish(ctx context.Context, holder string, gen uint64, pair Token) (uint64, error) {
	var moved *GenerationError
	var next uint64
	err := m.update(ctx, func(f *Family, _ time.Time) bool {
		if f.Generation != gen {
			moved = &GenerationError{Want: gen, Got: f.Generation}
			return false
		}
		f.Pair = pair
		f.Generation++
		next = f.Generation
		f.InFlight = InFlight{}
		if f.Lease.Holder == holder {
			f.Lease = Lease{}
		}
		return true
	})
	if err == nil && moved != nil {
		err = moved
	}
	return next, err
}

// Release implements Coordinator.
func (m *MemoryCoordinator) Release(ctx context.Context, holder string, spent bool) error {
	return m.update(ctx, func(f *Family, _ time.Time) bool {
		changed := false
		if f.Lease.Holder == holder {
			f.Lease, changed = Lease{}, true
		}
		if !spent && f.InFlight.Holder == holder {
			f.InFlight, changed = InFlight{}, true
		}
		return changed
	})
}

// Wait implements Coordinator: it returns when the generation differs
// from gen or the lease is free, a change wakes it, and it looks again
// when the lease's time is up (on Clock), or when ctx ends.
func (m *MemoryCoordinator) Wait(ctx context.Context, gen uint64) (Family, error) {
	return m.wait(ctx, gen, true)
}

// WaitGeneration implements GenerationWaiter: it returns when the
// generation differs from gen, a change wakes it, or when ctx ends.
func (m *MemoryCoordinator) WaitGeneration(ctx context.Context, gen uint64) (Family, error) {
	return m.wait(ctx, gen, false)
}

// wait returns when the generation differs from gen or, with lease, the
// lease is free.
func (m *MemoryCoordinator) wait(ctx context.Context, gen uint64, lease bool) (Family, error) {
	for {
		m.mu.Lock()
		now := m.now()
		f := m.read(now)
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		ch := m.changed
		m.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return f, err
		}
		if f.Generation != gen || lease && !f.Lease.Held(now) {
			return f, nil
		}
		d := time.Hour // nothing to look at again for but a change
		if f.Lease.Held(now) {
			d = f.Lease.Until.Sub(now)
		}
		if err := m.sleep(ctx, ch, d); err != nil {
			return f, err
		}
	}
}

// sleep waits for a change (ch), for d on Clock, or for ctx to end.
func (m *MemoryCoordinator) sleep(ctx context.Context, ch <-chan struct{}, d time.Duration) error {
	var lapse <-chan time.Time
	if m.Clock == nil {
		t := time.NewTimer(d)
		defer t.Stop()
		lapse = t.C
	} else {
		t := m.Clock.Timer(d)
		defer t.Stop()
		lapse = t.C
	}
	select {
	case <-ch:
	case <-lapse:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
