package session_test

import (
	"path/filepath"
	"testing"

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
	cost := refreshcost.Measure(t, func(i int) refreshcost.Process {
		c := &session.FileCoordinator{Path: path}
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
	t.Logf("holder: %v; waiter: %v; late: %v", cost.Holder, cost.Waiter, cost.Late)
	for _, step := range []string{refreshcost.PhaseHolderSent, refreshcost.PhaseWaiterWaits, refreshcost.PhaseLateRead,
		refreshcost.PhasePublished, refreshcost.PhaseWaiterAdopts, refreshcost.PhaseLateAdopts} {
		t.Logf("%-14s %+v", step, steps[step])
	}
}
