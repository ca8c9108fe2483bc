package sim

import (
	"math"
	"math/bits"
	"slices"
)

// event is one entry of the virtual-time queue. It is 32 bytes and holds no
// pointers, so a queue of millions of events costs the garbage collector
// nothing to scan.
type event struct {
	at int64 // virtual time in nanoseconds since the start of the run
	// key is the kind's rank in the top bit, then the insertion sequence
	// number shifted left by 8, with the event's kind in the low byte:
	// ordering by key puts an instant's faults first (docs/SCENARIOS.md: an at
	// fault takes effect at that instant, so calls queued for the same
	// instant must see it) and otherwise orders by insertion, which breaks
	// ties so that equal instants replay identically.
	key  uint64
	sess uint32 // session index (fault index for fault events)
	aux  uint64 // workload index, outcome code and flight, waiting-call ticket (64-bit) or store step, by kind
}

func (e *event) kind() evKind { return evKind(e.key) }

// evKind says what an event does.
type evKind uint8

const (
	evStart        evKind = iota // a session of a spread-out fleet begins, or a crashed process starts again
	evWake                       // the machine's armed wake-up is due
	evResult                     // the answer to the refresh in flight arrives
	evCall                       // a periodic application call (aux: slot<<32 | workload index)
	evBurst                      // a burst of application calls (aux: workload index)
	evWaitTimeout                // the oldest waiting calls give up (aux: the last waiting call's ticket)
	evFaultEnd                   // a fault window ends (sess: fault index)
	evRejectAccess               // the resource server starts rejecting current tokens (sess: fault index)
	evStore                      // a round trip of an attempt reaches the shared store (aux: flight<<32 | generation<<8 | op)
	evStoreOp                    // a holder's lease follow-up reaches the shared store (aux: holder<<8 | op<<1 | clear mark)
	evWatch                      // a watching process's Wait returns after a publish or a release
	evRelayout                   // the sessions are laid out again in memory (relayout)
	evLogin                      // the user logs in again (workload kind login; aux: workload index)
)

// rank is 0 for the events that change the world at an instant (faults)
// and 1 for those that act in it, which run after them at equal instants.
func rank(k evKind) uint64 {
	if k == evRejectAccess {
		return 0
	}
	return 1
}

// relative reports whether events of kind k are scheduled a delay after
// the instant being processed (the next periodic call, a refresh answer, a
// wake-up), as opposed to an absolute instant of the scenario (a session's
// start, a fault, a burst).
func relative(k evKind) bool {
	return k != evStart && k != evFaultEnd && k != evRejectAccess && k != evBurst && k != evRelayout && k != evLogin
}

// queue holds the pending events and pops them in (at, key) order. Most
// events are scheduled at the current instant plus a delay that repeats (a
// minute to the next periodic call, the server's latency to an answer, a
// token's lifetime to its refresh point), so they arrive in order: they go
// to FIFO lanes, ring buffers that each stay sorted, at O(1) per event and
// with sequential memory access. The rest (absolute instants, delays out of
// any lane's order) go to a binary min-heap. Popping takes the least head
// among the heap and the lanes; since keys are unique, the order is exactly
// the one a single heap gives, so results do not depend on which structure
// held an event. A typed heap avoids container/heap, whose interface calls
// and boxing cost an allocation per push.
type queue struct {
	ev  []event // the binary heap
	seq uint64
	// now is the instant of the event being processed: relative events are
	// pushed at or after it.
	now   int64
	lanes [numLanes]lane
	// headAt and headKey cache each lane's first event's (at, key), or
	// (MaxInt64, MaxUint64) for an empty lane, for a compact scan when
	// popping; tails caches its last event's at, or MinInt64 for an empty
	// lane, for a compact scan when pushing.
	headAt  [numLanes]int64
	headKey [numLanes]uint64
	tails   [numLanes]int64
	// active has bit j set when lane j is not empty.
	active uint8
	// naive puts every event in the heap: the engine before lanes, which
	// tests compare with and benchmarks measure against.
	naive bool
}

// numLanes bounds the lanes: a scenario has a few recurring delays.
const numLanes = 8

// lane is a ring buffer of events in (at, key) order.
type lane struct {
	buf     []event // len is a power of two
	head, n int
}

func (q *queue) init(capacity int) {
	q.ev = make([]event, 0, capacity)
	for j := range q.headAt {
		q.headAt[j], q.headKey[j], q.tails[j] = math.MaxInt64, math.MaxUint64, math.MinInt64
	}
}

func (q *queue) len() int {
	n := len(q.ev)
	for j := range q.lanes {
		n += q.lanes[j].n
	}
	return n
}

func less(a, b *event) bool { return a.at < b.at || a.at == b.at && a.key < b.key }

// stamp returns an event of kind k with the next sequence number, to be
// queued by pushAll.
func (q *queue) stamp(at int64, k evKind, sess uint32, aux uint64) event {
	q.seq++
	return event{at: at, key: rank(k)<<63 | q.seq<<8 | uint64(k), sess: sess, aux: aux}
}

// startBuffer returns an empty slice for n events to be stamped and given
// to pushAll, sized so that a lane can take it over as its ring buffer.
func (q *queue) startBuffer(n int) []event {
	size := 64
	for size < n {
		size *= 2
	}
	b := make([]event, 0, size)
	adviseHuge(b[:size])
	return b
}

// pushAll queues stamped events (a fleet's starts): sorted, they fill an
// empty lane, which takes es over when its capacity is startBuffer's; without
// an empty lane, they go to the heap.
func (q *queue) pushAll(es []event) {
	j := -1
	for k := range q.lanes {
		if q.lanes[k].n == 0 && !q.naive {
			j = k
			break
		}
	}
	if j < 0 {
		for _, e := range es {
			q.heapPush(e)
		}
		return
	}
	slices.SortFunc(es, func(a, b event) int {
		if less(&a, &b) {
			return -1
		}
		return 1
	})
	if c := cap(es); len(es) > 0 && c&(c-1) == 0 && q.lanes[j].buf == nil {
		q.lanes[j] = lane{buf: es[:c], n: len(es)}
		q.headAt[j], q.headKey[j], q.tails[j] = es[0].at, es[0].key, es[len(es)-1].at
		q.active |= 1 << j
		return
	}
	for _, e := range es {
		q.put(j, e)
	}
}

// push adds an event of kind k, stamping it with the next sequence number.
// A relative event goes to the lane whose last event is the latest not
// after at, a non-empty lane before an empty one, so that lanes keep to
// one delay each; when no lane can take it, it goes to the heap.
func (q *queue) push(at int64, k evKind, sess uint32, aux uint64) {
	e := q.stamp(at, k, sess, aux)
	if !q.naive && relative(k) && at >= q.now {
		best, bestTail := -1, int64(math.MinInt64)
		for m := q.active; m != 0; m &= m - 1 {
			j := bits.TrailingZeros8(m)
			if tail := q.tails[j]; tail <= at && (best < 0 || tail > bestTail) {
				best, bestTail = j, tail
			}
		}
		if best < 0 && q.active != 1<<numLanes-1 {
			best = bits.TrailingZeros8(^q.active)
		}
		if best >= 0 {
			q.put(best, e)
			return
		}
	}
	q.heapPush(e)
}

// pushHeap adds an event of kind k to the heap: one whose delay is drawn
// at random, which would make a lane's tail jump ahead of the constant
// delays the lanes are for.
func (q *queue) pushHeap(at int64, k evKind, sess uint32, aux uint64) {
	q.heapPush(q.stamp(at, k, sess, aux))
}

// put appends e to lane j; e is not before the lane's last event.
func (q *queue) put(j int, e event) {
	l := &q.lanes[j]
	if l.n == len(l.buf) {
		grown := make([]event, max(2*len(l.buf), 64))
		adviseHuge(grown)
		for k := range l.n {
			grown[k] = l.buf[(l.head+k)&(len(l.buf)-1)]
		}
		l.buf, l.head = grown, 0
	}
	l.buf[(l.head+l.n)&(len(l.buf)-1)] = e
	l.n++
	q.tails[j] = e.at
	if l.n == 1 {
		q.headAt[j], q.headKey[j] = e.at, e.key
		q.active |= 1 << j
	}
}

func (q *queue) heapPush(e event) {
	q.ev = append(q.ev, e)
	i := len(q.ev) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&q.ev[i], &q.ev[parent]) {
			break
		}
		q.ev[i], q.ev[parent] = q.ev[parent], q.ev[i]
		i = parent
	}
}

// earliest returns where the earliest event is: a lane's index, or -1 for
// the heap; ok is false when the queue is empty.
func (q *queue) earliest() (src int, ok bool) {
	src, ok = -1, len(q.ev) > 0
	at, key := int64(math.MaxInt64), uint64(math.MaxUint64)
	if ok {
		at, key = q.ev[0].at, q.ev[0].key
	}
	for m := q.active; m != 0; m &= m - 1 {
		j := bits.TrailingZeros8(m)
		if a := q.headAt[j]; a < at || a == at && q.headKey[j] < key {
			src, ok, at, key = j, true, a, q.headKey[j]
		}
	}
	return src, ok
}

// next removes and returns the earliest event if it comes before end; its
// instant becomes the queue's now.
func (q *queue) next(end int64) (event, bool) {
	src, ok := q.earliest()
	if !ok {
		return event{}, false
	}
	if src < 0 {
		if q.ev[0].at >= end {
			return event{}, false
		}
		e := q.heapPop()
		q.now = e.at
		return e, true
	}
	if q.headAt[src] >= end {
		return event{}, false
	}
	l := &q.lanes[src]
	e := l.buf[l.head]
	l.head = (l.head + 1) & (len(l.buf) - 1)
	l.n--
	if l.n > 0 {
		h := &l.buf[l.head]
		q.headAt[src], q.headKey[src] = h.at, h.key
	} else {
		q.headAt[src], q.headKey[src], q.tails[src] = math.MaxInt64, math.MaxUint64, math.MinInt64
		q.active &^= 1 << src
	}
	q.now = e.at
	return e, true
}

func (q *queue) heapPop() event {
	top := q.ev[0]
	n := len(q.ev) - 1
	q.ev[0] = q.ev[n]
	q.ev = q.ev[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&q.ev[r], &q.ev[l]) {
			m = r
		}
		if !less(&q.ev[m], &q.ev[i]) {
			break
		}
		q.ev[i], q.ev[m] = q.ev[m], q.ev[i]
		i = m
	}
	return top
}
