package sim

// recoveries tracks, for every fault window, how long after its end the
// last session had a usable token again.
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
	pending  int   // sessions without a usable token since the end
	waiting  int   // sessions without a usable token at the end
	usableAt int64 // when the last of them got one
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

// faultEnd checks, at the end t of fault f's window, which sessions hold no
// usable token.
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
		if s.start > t || !s.down && s.d.Usable(now) {
			continue
		}
		win.pending++
		win.waiting++
		if s.pendFirst < 0 {
			s.pendFirst = pos
		}
	}
}

// usable records that s got a usable token at t: it has recovered from
// every window it was waiting on.
func (rc *recoveries) usable(s *session, t int64) {
	if s.pendFirst < 0 {
		return
	}
	for _, w := range rc.ended[s.pendFirst:] {
		win := &rc.windows[w]
		win.pending--
		win.usableAt = max(win.usableAt, t)
	}
	s.pendFirst = -1
}

// finish checks the windows that end with the run.
func (rc *recoveries) finish(r *run) {
	for i := range rc.windows {
		if !rc.windows[i].checked {
			rc.faultEnd(r, rc.windows[i].fault, r.end)
		}
	}
}
