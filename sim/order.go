package sim

import (
	"math"
	"sort"
)

// The order of events at one instant.
//
// A single heap stamped with a sequence number pops the events of one
// instant in the order they were scheduled: by the instant they were
// scheduled at (pushAt), then by the place, at that instant, of the event
// whose processing scheduled them. The queue keeps that order with keys
// (at, pushAt, ord) and without scheduling every periodic call: the calls
// that change nothing are counted in closed form (chain.go), and when one
// of a periodic workload's calls does become an event again, its key must
// be the one it would have had. It has: the call before it, made or
// counted, scheduled it one period earlier, and the calls of one period
// keep among themselves the order of their first calls, that is of their
// workload entries' creation (rank), since each entry's first call comes
// less than one period after its session begins (chain.go makes every
// other period's calls events). So a periodic call after its first is keyed
// (at, at-period, (rank+1)<<33).
//
// Any other event is keyed (at, now, seq) by the sequence number of its
// scheduling, unless its delay is one of those periods: only then can it
// meet periodic calls scheduled at the same instant, at the same instant,
// and its ord places it among them: T<<33 | 1<<32 | its rank among the
// instant's schedulings, where T is the number of ranks whose calls at the
// scheduling instant came before the event being processed (threshold).

// order is what the keys of the events scheduled at the current instant
// depend on.
type order struct {
	// periods lists the periods of the workload entries whose calls are
	// counted in closed form; lastFirst[j] is 1 + the rank of the last
	// first call of period j made at the current instant, or 0.
	periods   []int64
	lastFirst []uint64
	// created holds, by rank, when each of those entries was created (its
	// session began): ranks are given in that order.
	created []int64
	// cur is the key of the event being processed; instSeq the sequence
	// number when its instant began.
	cur     key
	instSeq uint64
}

func (o *order) init() { o.cur = key{at: -1, pushAt: math.MinInt64} }

// stamp returns an event of kind k scheduled now, with the next sequence
// number, to be queued.
func (q *queue) stamp(at int64, k evKind, sess uint32, aux uint64) event {
	q.seq++
	e := event{at: at, pushAt: q.now, ord: q.seq, sess: sess, aux: aux, k: k}
	if k == evRejectAccess {
		// A fault acts at its instant before anything else does.
		e.pushAt = math.MinInt64
		return e
	}
	for j, p := range q.order.periods {
		if at-q.now == p {
			e.ord = q.threshold(j)<<33 | 1<<32 | (q.seq-q.order.instSeq)&(1<<32-1)
			break
		}
	}
	return e
}

// pushCall queues the call of a periodic workload entry of period every
// and rank rank at at, keyed as if the call one period before had
// scheduled it.
func (q *queue) pushCall(at, every int64, rank uint32, sess uint32, aux uint64) {
	q.enqueue(event{at: at, pushAt: at - every, ord: uint64(rank+1) << 33, sess: sess, aux: aux, k: evCall})
}

// threshold returns T for an event scheduled now with delay periods[j]:
// the calls of that period at now with a rank below T came before the
// event being processed, the others after it.
func (q *queue) threshold(j int) uint64 {
	o := &q.order
	x := q.now - o.periods[j] // when this instant's calls of period j were scheduled
	switch {
	case o.cur.pushAt < x:
		return 0 // scheduled before all of them
	case o.cur.pushAt == x:
		// A call of that period, or an event of that delay: its own ord
		// says.
		return o.cur.ord >> 33
	}
	// After every call of an entry created at or before x (the others
	// make their first call now, or are not in phase), and after the first
	// calls made at this instant so far.
	created := uint64(sort.Search(len(o.created), func(r int) bool { return o.created[r] > x }))
	return max(created, o.lastFirst[j])
}

// processing makes e the event being processed.
func (q *queue) processing(e *event) {
	if e.at != q.now {
		q.order.instSeq = q.seq
		clear(q.order.lastFirst)
		if !q.naive {
			q.cal.moveTo(e.at >> calShift)
		}
	}
	q.now = e.at
	q.order.cur = e.key()
}

// firstCall records that the event being processed is the first call of
// an entry of period j and rank rank.
func (q *queue) firstCall(j int, rank uint32) { q.order.lastFirst[j] = uint64(rank) + 1 }
