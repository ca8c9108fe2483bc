package session_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/refreshcost"
	"github.com/authfsm/authfsm/session"
)

// TestFileCoordinatorRefreshCost pins the round trips one refresh costs the
// processes of a family sharing a FileCoordinator (refreshcost's scenario):
// each process's calls of its coordinator, and at each step the token
// file's reads, lock-and-read cycles, writes and fsyncs.
func TestFileCoordinatorRefreshCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "family.json")
	var blocked [3]chan struct{}
	for i := range blocked {
		blocked[i] = make(chan struct{}, 1)
	}
	steps := map[string]session.FileOps{}
	last := session.TakeFileOps()
	cost := refreshcost.Measure(t, 2, func(i int) refreshcost.Process {
		// Poll an hour: the file is read when it changed, not by the clock.
		c := &session.FileCoordinator{Path: path, Poll: time.Hour}
		if i < 0 {
			return refreshcost.Process{Coordinator: c}
		}
		session.SetWaiting(c, func() {
			select {
			case blocked[i] <- struct{}{}:
			default:
			}
		})
		return refreshcost.Process{Coordinator: c, Waiting: blocked[i]}
	}, func(step string) {
		now := session.TakeFileOps()
		steps[step] = now.Minus(last)
		last = now
	})
	// Before: the holder read twice (and the file five times, writing it
	// three times with six fsyncs), the waiter read the file four times
	// and adopted at its next poll, 200 ms later, the late process four
	// times with four fsyncs.
	wantCalls := map[string]string{
		"holder": "acquire 1, mark 1, publish 1, read 1", // the read under the lease comes with the acquire
		"waiter": "acquire 1, read 1, wait 1",
		"late":   "acquire 1, read 1, release 1",
	}
	wantFile := map[string]session.FileOps{
		// a read, then under the lock: the lease (one fsync), the mark (two)
		refreshcost.PhaseHolderSent: {Reads: 3, Locked: 2, Writes: 2, Syncs: 3},
		// a read, the lease found busy under the lock; Wait reads nothing
		// more: the file is the version the acquire read
		refreshcost.PhaseWaiterWaits: {Reads: 2, Locked: 1},
		refreshcost.PhaseLateRead:    {Reads: 1},
		// the publish (two fsyncs); the waiter reads the new version once
		refreshcost.PhasePublished: {Reads: 2, Locked: 1, Writes: 1, Syncs: 2},
		// the late process takes the lease, finds the new pair with it,
		// gives the lease back: one fsync each
		refreshcost.PhaseLateAdopts: {Reads: 2, Locked: 2, Writes: 2, Syncs: 2},
	}
	for role, got := range map[string]refreshcost.Counts{"holder": cost.Holder, "waiter": cost.Waiter, "late": cost.Late} {
		if got.String() != wantCalls[role] {
			t.Errorf("the %s's calls: %v; want %s", role, got, wantCalls[role])
		}
	}
	for _, step := range []string{refreshcost.PhaseHolderSent, refreshcost.PhaseWaiterWaits, refreshcost.PhaseLateRead,
		refreshcost.PhasePublished, refreshcost.PhaseLateAdopts} {
		if steps[step] != wantFile[step] {
			t.Errorf("%s: the file %+v; want %+v", step, steps[step], wantFile[step])
		}
	}
}
