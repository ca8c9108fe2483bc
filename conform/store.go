package conform

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authfsm/authfsm/session"
)

// store is the shared store of one token family (share: store), as a
// session.Coordinator: every operation is one round trip of share.latency
// on the run's clock and acts on the store when it arrives, or fails when
// a store_down window covers that instant, as the simulator's store does.
// Times in the Family it returns are the run's clock (the server's), the
// coordinator's own.
type store struct {
	clk     *Clock
	latency time.Duration
	down    func(at time.Duration) bool

	mu      sync.Mutex
	fam     session.Family // Lease and InFlight kept even once lapsed; see read
	changed chan struct{}  // closed and replaced on every change
}

func newStore(clk *Clock, latency time.Duration, down func(time.Duration) bool) *store {
	return &store{clk: clk, latency: latency, down: down, changed: make(chan struct{})}
}

// maxWait bounds a WaitGeneration's sleep while no lease is held: only a
// change wakes it in a run.
const maxWait = 24 * 365 * time.Hour

// errStoreDown is the error of a round trip within a store_down window.
var errStoreDown = errors.New("connection refused")

// errCrashed is the error of a crashed process's round trip.
var errCrashed = errors.New("conform: the process crashed")

// handle is one process incarnation's connection to its family's store:
// once the process crashed, it reaches nothing. proc is the process's
// index in the fleet: a change of the family wakes its waiting processes
// in that order (wait).
type handle struct {
	st   *store
	live func() bool
	proc int
}

// trip makes one round trip: it waits the store's latency (or until ctx
// ends), then runs op on the store unless the store is down.
func (h handle) trip(ctx context.Context, op func(now time.Time) bool) error {
	if !h.live() {
		return errCrashed
	}
	st := h.st
	if err := st.clk.SleepContext(ctx, st.latency); err != nil {
		return err
	}
	if !h.live() {
		return errCrashed
	}
	if st.down(st.clk.Elapsed()) {
		return errStoreDown
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if op(st.clk.Now()) {
		close(st.changed)
		st.changed = make(chan struct{})
	}
	return nil
}

// read returns the family as Read reports it at now: a lapsed lease is no
// lease. mu is held.
func (st *store) read(now time.Time) session.Family {
	f := st.fam
	if !f.Lease.Held(now) {
		f.Lease = session.Lease{}
	}
	f.Now = now
	return f
}

// Read implements session.Coordinator.
func (h handle) Read(ctx context.Context) (session.Family, error) {
	var fam session.Family
	err := h.trip(ctx, func(now time.Time) bool {
		fam = h.st.read(now)
		return false
	})
	return fam, err
}

// Acquire implements session.Coordinator.
func (h handle) Acquire(ctx context.Context, holder string, ttl time.Duration) (session.Lease, bool, error) {
	var got session.Lease
	var ok bool
	err := h.trip(ctx, func(now time.Time) bool {
		f := &h.st.fam
		if f.Lease.Held(now) && f.Lease.Holder != holder {
			got = f.Lease
			return false
		}
		f.Lease = session.Lease{Holder: holder, Until: now.Add(ttl)}
		got, ok = f.Lease, true
		return true
	})
	return got, ok, err
}

// MarkInFlight implements session.Coordinator.
func (h handle) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	lost := false
	err := h.trip(ctx, func(now time.Time) bool {
		f := &h.st.fam
		if !f.Lease.Held(now) || f.Lease.Holder != holder {
			lost = true
			return false
		}
		at := now
		if f.InFlight.Holder != "" && f.InFlight.Generation == gen {
			at = f.InFlight.At // the first instant: the reuse grace runs from it
		}
		f.InFlight = session.InFlight{Holder: holder, Generation: gen, At: at}
		return true
	})
	if err == nil && lost {
		err = session.ErrLeaseLost
	}
	return err
}

// Publish implements session.Coordinator.
func (h handle) Publish(ctx context.Context, holder string, gen uint64, pair session.Token) (uint64, error) {
	var moved *session.GenerationError
	var next uint64
	err := h.trip(ctx, func(now time.Time) bool {
		f := &h.st.fam
		if f.Generation != gen {
			moved = &session.GenerationError{Want: gen, Got: f.Generation}
			return false
		}
		f.Pair = pair
		f.Generation++
		next = f.Generation
		f.InFlight = session.InFlight{}
		if f.Lease.Holder == holder {
			f.Lease = session.Lease{}
		}
		return true
	})
	if err == nil && moved != nil {
		err = moved
	}
	return next, err
}

// Release implements session.Coordinator.
func (h handle) Release(ctx context.Context, holder string, spent bool) error {
	return h.trip(ctx, func(now time.Time) bool {
		f := &h.st.fam
		changed := false
		if f.Lease.Holder == holder {
			f.Lease, changed = session.Lease{}, true
		}
		if !spent && f.InFlight.Holder == holder {
			f.InFlight, changed = session.InFlight{}, true
		}
		return changed
	})
}

// Wait implements session.Coordinator: it returns one round trip after
// the family's generation differs from gen or its lease is free (released,
// or lapsed), with the state then.
func (h handle) Wait(ctx context.Context, gen uint64) (session.Family, error) {
	return h.wait(ctx, gen, true)
}

// WaitGeneration implements session.GenerationWaiter: it returns one round
// trip after the family's generation differs from gen, with the state
// then.
func (h handle) WaitGeneration(ctx context.Context, gen uint64) (session.Family, error) {
	return h.wait(ctx, gen, false)
}

// wait is Wait, and with lease false WaitGeneration.
func (h handle) wait(ctx context.Context, gen uint64, lease bool) (session.Family, error) {
	st := h.st
	for {
		st.mu.Lock()
		now := st.clk.Now()
		f := st.read(now)
		ch, until := st.changed, st.fam.Lease.Until
		st.mu.Unlock()
		if f.Generation != gen || lease && !f.Lease.Held(now) {
			return h.Read(ctx)
		}
		if !f.Lease.Held(now) {
			until = now.Add(maxWait) // nothing to look at again for but a change
		}
		at := until.Sub(st.clk.origin)
		switch st.clk.blockRanked(at, ch, ctx, st, h.proc) {
		case wakeContext:
			return session.Family{}, ctx.Err()
		case wakeStopped:
			return session.Family{}, ErrStopped
		}
	}
}

// publishNow publishes pair as the family's next generation at once, as a
// login outside every process does (session.PublishPair; the simulator
// counts its round trips, which take no virtual time here, as there).
func (st *store) publishNow(pair session.Token) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.fam.Pair = pair
	st.fam.Generation++
	st.fam.InFlight = session.InFlight{}
	close(st.changed)
	st.changed = make(chan struct{})
}
