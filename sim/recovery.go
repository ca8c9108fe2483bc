package sim

import (
	"time"

	"github.com/authfsm/authfsm/states"
)

// recoveries tracks, for every fault window, when the sessions it touched
// recovered (docs/SCENARIOS.md, recoveries). A session is touched when, at the
// window's end, it holds no usable token or a refresh cycle of it is open
// (refreshing, backoff, waiting for another process's refresh, or a
// refresh-ahead cycle that was postponed). It recovers at its first
// successful refresh (or new token from outside, an adopted pair) after
// the end — a session revoked meanwhile too, should its family publish a
// pair it adopts; one still revoked or waiting when the run ends never
// recovers.
// A still-valid token is not a recovery: the refresh whose answer a window
// lost may have doomed it.
type recoveries struct {
	// byFault maps a fault index to its window's record, or -1.
	byFault []int
	windows []window
	// ended lists window records in the order their windows ended; a
	// session's pendFirst indexes it.
	ended []int
}

type window struct {
	fault    int
	end      int64
	checked  bool
	pending  int   // touched sessions that have not recovered yet
	touched  int   // sessions touched by the window
	never    int   // touched sessions revoked, and not recovered since
	usableAt int64 // when the last of them recovered
	// lastSess is the session that recovered last; revokedSess the first
	// that was revoked first.
	lastSess, revokedSess uint32
}

func (rc *recoveries) init(sc *Scenario) {
	rc.byFault = make([]int, len(sc.Server.Faults))
	for i := range rc.byFault {
		rc.byFault[i] = -1
	}
	for _, i := range sc.windows() {
		rc.byFault[i] = len(rc.windows)
		rc.windows = append(rc.windows, window{fault: i, end: int64(sc.Server.Faults[i].To)})
	}
}

// faultEnd finds, at the end t of fault f's window, the sessions it touched.
func (rc *recoveries) faultEnd(r *run, f int, t int64) {
	w := rc.byFault[f]
	if w < 0 {
		return
	}
	win := &rc.windows[w]
	win.checked, win.usableAt = true, t
	pos := int32(len(rc.ended))
	rc.ended = append(rc.ended, w)
	now := r.clock(t)
	for i := range r.ss {
		s := &r.ss[i]
		if s.start > t || !touched(s, now) {
			continue
		}
		win.pending++
		win.touched++
		if s.pendFirst < 0 {
			s.pendFirst = pos
		}
	}
}

// touched reports whether s, at the end of a fault window, holds no usable
// token or has a refresh cycle open.
func touched(s *session, now time.Time) bool {
	if s.down || !s.d.Usable(now) || s.d.Postponed() {
		return true
	}
	switch s.d.State() {
	case states.Refreshing, states.Backoff, states.Waiting:
		return true
	}
	return false
}

// usable records that s got a usable token from a successful refresh (or
// from outside) at t: it has recovered from every window it was pending on.
func (rc *recoveries) usable(i uint32, s *session, t int64) {
	if s.pendFirst < 0 {
		return
	}
	for _, w := range rc.ended[s.pendFirst:] {
		win := &rc.windows[w]
		win.pending--
		if s.revokedPending {
			win.never--
		}
		if t >= win.usableAt {
			win.usableAt, win.lastSess = t, i
		}
	}
	s.pendFirst, s.revokedPending = -1, false
}

// revoked records that s was revoked: unless it adopts a pair later, it
// never recovers from the windows it is pending on.
func (rc *recoveries) revoked(i uint32, s *session) {
	if s.pendFirst < 0 || s.revokedPending {
		return
	}
	s.revokedPending = true
	for _, w := range rc.ended[s.pendFirst:] {
		win := &rc.windows[w]
		if win.never == 0 {
			win.revokedSess = i
		}
		win.never++
	}
}

// finish checks the windows that end with the run.
func (rc *recoveries) finish(r *run) {
	for i := range rc.windows {
		if !rc.windows[i].checked {
			rc.faultEnd(r, rc.windows[i].fault, r.end)
		}
	}
}
