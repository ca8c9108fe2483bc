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
	steps := map[string]session.FileOps{}
	last := session.TakeFileOps()
	cost := refreshcost.Measure(t, 2, func(i int, blocked func(bool)) session.Coordinator {
		// Poll an hour: the file is read when it changed, not by the clock.
		c := &session.FileCoordinator{Path: path, Poll: time.Hour}
		if i >= 0 {
			session.SetWaiting(c, blocked)
		}
		return c
	}, func(step string) {
		now := session.TakeFileOps()
		steps[step] = now.Minus(last)
		last = now
	})
	// Before: the holder read twice (and the file five times, writing it
	// three times with six fsyncs), the waiter asked for the lease and read
	// the file four times, adopting at its next poll, 200 ms later; the late
	// process took the lease after the publish, read the file four times
	// with two writes and four fsyncs, and gave the lease back.
	wantCalls := map[string]string{
		"holder": "acquire 1, mark 1, publish 1, read 1, wait 1", // the read under the lease comes with the acquire
		"waiter": "read 1, wait 2",                               // the read finds the lease held: it waits at once
		"late":   "acquire 1, read 1, wait 1",                    // the acquire finds the generation moved
	}
	// Each session also watches the family for a logout while it holds
	// the pair (the waits above but the waiter's first): the watch of the
	// file, which sees every new version of it, reads each one it sees,
	// those of the lease and the mark too, at most once a process and a
	// write (nine; the holder's watch reads none of its own versions), and
	// when it sees it depends on its backoff: those reads, Watched, are
	// bounded below, the others pinned.
	wantFile := map[string]session.FileOps{
		refreshcost.PhaseLateRead: {Reads: 1},
		// a read, then under the lock: the lease (one fsync), the mark (two)
		refreshcost.PhaseHolderSent: {Reads: 3, Locked: 2, Writes: 2, Syncs: 3},
		// a read; Wait reads nothing more: the file is the version read
		refreshcost.PhaseWaiterWaits: {Reads: 1},
		// the publish (two fsyncs)
		refreshcost.PhasePublished: {Reads: 1, Locked: 1, Writes: 1, Syncs: 2},
		// the late process's acquire finds the new pair under the lock,
		// and takes no lease
		refreshcost.PhaseLateAdopts: {Reads: 1, Locked: 1},
	}
	for role, got := range map[string]refreshcost.Counts{"holder": cost.Holder, "waiter": cost.Waiter, "late": cost.Late} {
		if got.String() != wantCalls[role] {
			t.Errorf("the %s's calls: %v; want %s", role, got, wantCalls[role])
		}
	}
	var watched int64
	for _, step := range []string{refreshcost.PhaseLateRead, refreshcost.PhaseHolderSent, refreshcost.PhaseWaiterWaits,
		refreshcost.PhasePublished, refreshcost.PhaseLateAdopts} {
		got := steps[step]
		t.Logf("%-14s %+v", step, got)
		watched += got.Watched
		got.Reads -= got.Watched
		got.Watched = 0
		if got != wantFile[step] {
			t.Errorf("%s: the file but the watches' reads %+v; want %+v", step, got, wantFile[step])
		}
	}
	// At least the waiter's read of the new pair and the late process's
	// watch's (it learns that the publish was no logout).
	if watched < 2 || watched > 6 {
		t.Errorf("the watches read the file %d times; want 2 to 6", watched)
	}
}
