package sim

import (
	"slices"
	"time"
)

// layout places the sessions, given their starts, for memory access in
// time order. A session's refreshes come a token lifetime after its start,
// so r.ss holds the sessions in the order of their starts (pos maps a
// session to its place); its periodic calls come at its phase, so plainTo
// holds them in the order of their phase in the first periodic workload
// entry (session.slot). The lanes deliver each kind of event in time
// order: a million sessions are then swept from one end to the other
// rather than read at random. Without a start spread, with naiveEngine, or
// when the calls are counted in closed form (chain.go: they are no longer
// the events to sweep, and the lookup of a session's place costs more than
// it saves), both orders are the sessions' own.
func (r *run) layout(starts []int64) {
	if r.plainTo == nil || r.cf || r.sc.Fleet.StartSpread == 0 || len(starts) >= 1<<24 {
		for i := range r.ss {
			r.ss[i].slot = uint32(i)
		}
		return
	}
	// Sort keys: the instant scaled to 36 bits above the session's index
	// (24 bits, more than maxSessions); an order that is off by a rounding
	// costs nothing, since any layout gives the same results.
	keys := make([]uint64, len(starts))
	sorted := func(key func(i int) (v, of int64)) {
		for i := range starts {
			v, of := key(i)
			keys[i] = uint64(float64(v)/float64(of)*(1<<36))<<24 | uint64(i)
		}
		slices.Sort(keys)
	}
	sorted(func(i int) (int64, int64) { return starts[i], int64(r.sc.Fleet.StartSpread) })
	r.pos = make([]uint32, len(starts))
	adviseHuge(r.pos)
	for p, k := range keys {
		r.pos[uint32(k&(1<<24-1))] = uint32(p)
	}
	from, every := int64(0), int64(r.sc.Duration)
	for k := range r.sc.Workload {
		if w := &r.sc.Workload[k]; w.Kind == WorkRequests {
			from, every = int64(w.From), int64(w.Every)
			break
		}
	}
	sorted(func(i int) (int64, int64) { return (starts[i] + from) % every, every })
	for slot, k := range keys {
		r.sess(uint32(k & (1<<24 - 1))).slot = uint32(slot)
	}
}

// A fault window scatters the sessions' refreshes: each retries at its
// own random delays, and from then on its refreshes come at its own
// phase, so that the sessions' events read r.ss at random. relayoutAfter
// a window's end, when its retries are over and each session waits for
// its next refresh point, relayout places the sessions again in the order
// their next events come, and the lanes sweep memory again (as layout,
// not when calls are counted in closed form). Fleets smaller than
// relayoutMin fit in the caches and are left as they are (a variable:
// tests lay out every fleet again).
const relayoutAfter = 5 * time.Minute

var relayoutMin = 1 << 16

// relayout moves the sessions in r.ss into the order of their next events
// after t (a pending answer, else the armed wake-up), in place, and
// updates pos. Where a session sits changes no result, only the speed.
func (r *run) relayout(t int64) {
	n := len(r.ss)
	if n >= 1<<24 {
		return
	}
	keys := make([]uint64, n)
	span := float64(r.end - t + 1)
	for i := range n {
		s := r.sess(uint32(i))
		next := s.wakeAt
		if s.awaiting {
			next = s.sentAt + r.latency // about when its answer comes
		}
		if next < t || next > r.end {
			next = r.end // nothing pending within the run: last
		}
		keys[i] = uint64(float64(next-t)/span*(1<<36))<<24 | uint64(i)
	}
	slices.Sort(keys)
	// to[p] is where the session at place p goes.
	to := make([]uint32, n)
	if r.pos == nil {
		r.pos = make([]uint32, n)
		adviseHuge(r.pos)
		for i := range r.pos {
			r.pos[i] = uint32(i)
		}
	}
	for p, k := range keys {
		i := uint32(k & (1<<24 - 1))
		to[r.pos[i]] = uint32(p)
		r.pos[i] = uint32(p)
	}
	// Follow each cycle of the permutation, moving one session at a time.
	done := make([]bool, n)
	for start := range n {
		if done[start] {
			continue
		}
		held, cur := r.ss[start], start
		for {
			done[cur] = true
			dst := int(to[cur])
			if dst == start {
				r.ss[start] = held
				break
			}
			held, r.ss[dst] = r.ss[dst], held
			cur = dst
		}
	}
}

// sess returns session i.
func (r *run) sess(i uint32) *session {
	if r.pos == nil {
		return &r.ss[i]
	}
	return &r.ss[r.pos[i]]
}
