// Package benchkit holds what the simulator's benchmarks share: the
// yardstick they measure against (Floor, a bare binary-heap event loop, the
// naive engine a simulator is first written as), the process's CPU time,
// and a sampler of the peak heap. The goals are ratios against the floor
// measured in the same run, so that they hold on a busy machine as on an
// idle one.
package benchkit

// entry is one pending event: 24 bytes, no pointers.
type entry struct {
	at   int64
	seq  uint64
	sess uint32
	aux  uint32
}

func less(a, b *entry) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// Floor runs a bare binary-heap event loop over sessions entries, one per
// session, the first at session×spread nanoseconds: it pops events events,
// and each pop schedules the session's successor period nanoseconds later.
// It returns a checksum of the popped instants, which keeps the compiler
// from removing the work.
func Floor(sessions int, events, spread, period int64) int64 {
	h := make([]entry, 0, sessions)
	var seq uint64
	push := func(e entry) {
		h = append(h, e)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !less(&h[i], &h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	for i := range sessions {
		seq++
		push(entry{at: int64(i) * spread, seq: seq, sess: uint32(i)})
	}
	var sum int64
	for range events {
		top := h[0]
		n := len(h) - 1
		h[0] = h[n]
		h = h[:n]
		for i := 0; ; {
			l := 2*i + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && less(&h[r], &h[l]) {
				m = r
			}
			if !less(&h[m], &h[i]) {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
		sum += top.at
		seq++
		push(entry{at: top.at + period, seq: seq, sess: top.sess, aux: top.aux})
	}
	return sum
}
