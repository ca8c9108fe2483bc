package session_test

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/coordtest"
)

// TestFileCoordinatorContract runs the Coordinator conformance suite on a
// FileCoordinator, in a testing/synctest bubble whose clock the suite moves
// (time.Sleep) to let leases lapse.
func TestFileCoordinatorContract(t *testing.T) {
	coordtest.RunIn(t, synctest.Test, func(t *testing.T) coordtest.Family {
		path := filepath.Join(t.TempDir(), "family.json")
		return coordtest.Family{
			Open:    func() session.Coordinator { return &session.FileCoordinator{Path: path, Poll: 10 * time.Millisecond} },
			Advance: time.Sleep,
		}
	})
}

// TestMemoryCoordinatorContract runs the suite on a MemoryCoordinator.
func TestMemoryCoordinatorContract(t *testing.T) {
	coordtest.RunIn(t, synctest.Test, func(t *testing.T) coordtest.Family {
		c := &session.MemoryCoordinator{}
		return coordtest.Family{Open: func() session.Coordinator { return c }, Advance: time.Sleep}
	})
}
