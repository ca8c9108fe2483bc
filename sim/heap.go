package sim

import (
	"math"
	"math/bits"
	"slices"
)

// event is one entry of the virtual-time queue. It is 40 bytes and holds no
// pointers, so a queue of millions of events costs the garbage collector
// nothing to scan. Events pop in (at, pushAt, ord) order, which is the
// order of the instants they were scheduled at and then of their
// scheduling (order.go): the order of a single heap stamped with a
// sequence number, which breaks ties so that equal instants replay
// identically.
type event struct {
	at int64 // virtual time in nanoseconds since the start of the run
	// pushAt is the instant the event was scheduled at: the instant being
	// processed, -1 for those the run starts with, math.MinInt64 for the
	// faults that act at an instant before anything else does
	// (docs/SCENARIOS.md: an at fault takes effect at that instant, so calls
	// queued for the same instant must see it). A periodic call's is one
	// period before it, whether the call before it was an event or counted.
	pushAt int64
	// ord orders the events scheduled at one instant (order.go).
	ord  uint64
	aux  uint64 // workload index, outcome code and flight, waiting-call ticket (64-bit) or store step, by kind
	sess uint32 // session index (fault index for fault events)
	k    evKind
}

func (e *event) kind() evKind { return e.k }

// evKind says what an event does.
type evKind uint8

const (
	evStart        evKind = iota // a session of a spread-out fleet begins, or a crashed process starts again
	evWake                       // the machine's armed wake-up is due
	evResult                     // the answer to the refresh in flight arrives
	evCall                       // a periodic application call (aux: its chain, chain.go)
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

// relative reports whether events of kind k are scheduled a delay after
// the instant being processed (the next periodic call, a refresh answer, a
// wake-up), as opposed to an absolute instant of the scenario (a session's
// start, a fault, a burst).
func relative(k evKind) bool {
	return k != evStart && k != evFaultEnd && k != evRejectAccess && k != evBurst && k != evRelayout && k != evLogin
}

// queue holds the pending events and pops them in (at, pushAt, ord) order.
// Most events are scheduled at the current instant plus a delay that
// repeats (a minute to the next periodic call, the server's latency to an
// answer, a token's lifetime to its refresh point), so they arrive in
// order: they go to FIFO lanes, ring buffers that each stay sorted, at O(1)
// per event and with sequential memory access. The rest (absolute instants,
// delays out of any lane's order) go to a binary min-heap, kept as a
// calendar queue (calendar.go). Popping takes the least head among the
// heap and the lanes; since keys are unique, the
// order is exactly the one a single heap gives, so results do not depend on
// which structure held an event. A typed heap avoids container/heap, whose
// interface calls and boxing cost an allocation per push.
type queue struct {
	ev  []event  // the binary heap of the naive queue
	cal calendar // the events no lane takes, else
	seq uint64
	// now is the instant of the event being processed: relative events are
	// pushed at or after it. order holds what the keys of the events pushed
	// now depend on (order.go).
	now   int64
	order order
	lanes [numLanes]lane
	// heads caches each lane's first event's key, or maxKey for an empty
	// lane, for a compact scan when popping; tails caches its last event's
	// key, or minKey for an empty lane, for a compact scan when pushing.
	heads, tails [numLanes]key
	// active has bit j set when lane j is not empty.
	active uint8
	// naive puts every event in the heap: the engine before lanes, which
	// tests compare with and benchmarks measure against.
	naive bool
}

// key is an event's place in the order.
type key struct {
	at, pushAt int64
	ord        uint64
}

var (
	minKey = key{math.MinInt64, math.MinInt64, 0}
	maxKey = key{math.MaxInt64, math.MaxInt64, math.MaxUint64}
)

func (e *event) key() key { return key{e.at, e.pushAt, e.ord} }

func (a key) less(b key) bool {
	return a.at < b.at || a.at == b.at && (a.pushAt < b.pushAt || a.pushAt == b.pushAt && a.ord < b.ord)
}

// numLanes bounds the lanes: a scenario has a few recurring delays.
const numLanes = 8

// lane is a ring buffer of events in key order.
type lane struct {
	buf     []event // len is a power of two
	head, n int
}

func (q *queue) init(capacity int) {
	q.ev = make([]event, 0, capacity)
	q.now = -1 // what the run starts with is scheduled before its first instant
	q.order.init()
	for j := range q.heads {
		q.heads[j], q.tails[j] = maxKey, minKey
	}
}

func (q *queue) len() int {
	n := len(q.ev) + q.cal.len()
	for j := range q.lanes {
		n += q.lanes[j].n
	}
	return n
}

func less(a, b *event) bool {
	return a.at < b.at || a.at == b.at && (a.pushAt < b.pushAt || a.pushAt == b.pushAt && a.ord < b.ord)
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
		q.heads[j], q.tails[j] = es[0].key(), es[len(es)-1].key()
		q.active |= 1 << j
		return
	}
	for _, e := range es {
		q.put(j, e)
	}
}

// push adds an event of kind k, scheduled now (order.go gives its key).
func (q *queue) push(at int64, k evKind, sess uint32, aux uint64) {
	q.enqueue(q.stamp(at, k, sess, aux))
}

// enqueue adds e. A relative event goes to the lane whose last event is
// the latest not after it, a non-empty lane before an empty one, so that
// lanes keep to one delay each; when no lane can take it, it goes to the
// heap.
func (q *queue) enqueue(e event) {
	if !q.naive && relative(e.k) && e.at >= q.now {
		ek := e.key()
		best := -1
		for m := q.active; m != 0; m &= m - 1 {
			j := bits.TrailingZeros8(m)
			if tail := q.tails[j]; !ek.less(tail) && (best < 0 || q.tails[best].less(tail)) {
				best = j
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
	q.tails[j] = e.key()
	if l.n == 1 {
		q.heads[j] = q.tails[j]
		q.active |= 1 << j
	}
}

func (q *queue) heapPush(e event) {
	if q.naive {
		heapPush(&q.ev, e)
		return
	}
	q.cal.push(e)
}

// heapPeek returns the heap's least event, or nil.
func (q *queue) heapPeek() *event {
	if q.naive {
		if len(q.ev) == 0 {
			return nil
		}
		return &q.ev[0]
	}
	return q.cal.peek()
}

func (q *queue) heapPop() event {
	if q.naive {
		return heapPop(&q.ev)
	}
	return q.cal.pop()
}

// earliest returns where the earliest event is: a lane's index, or -1 for
// the heap; ok is false when the queue is empty.
func (q *queue) earliest() (src int, ok bool) {
	best := maxKey
	h := q.heapPeek()
	src, ok = -1, h != nil
	if ok {
		best = h.key()
	}
	for m := q.active; m != 0; m &= m - 1 {
		j := bits.TrailingZeros8(m)
		if h := q.heads[j]; h.less(best) {
			src, ok, best = j, true, h
		}
	}
	return src, ok
}

// next removes and returns the earliest event if it comes before end; its
// instant becomes the queue's now, and the event the one whose pushes
// order.go orders.
func (q *queue) next(end int64) (event, bool) {
	src, ok := q.earliest()
	if !ok {
		return event{}, false
	}
	var e event
	if src < 0 {
		if q.heapPeek().at >= end {
			return event{}, false
		}
		e = q.heapPop()
	} else {
		if q.heads[src].at >= end {
			return event{}, false
		}
		l := &q.lanes[src]
		e = l.buf[l.head]
		l.head = (l.head + 1) & (len(l.buf) - 1)
		l.n--
		if l.n > 0 {
			q.heads[src] = l.buf[l.head].key()
		} else {
			q.heads[src], q.tails[src] = maxKey, minKey
			q.active &^= 1 << src
		}
	}
	q.processing(&e)
	return e, true
}
