package sim

// event is one entry of the virtual-time queue. It is 32 bytes and holds no
// pointers, so a queue of millions of events costs the garbage collector
// nothing to scan.
type event struct {
	at int64 // virtual time in nanoseconds since the start of the run
	// key is the kind's rank in the top bit, then the insertion sequence
	// number shifted left by 8, with the event's kind in the low byte:
	// ordering by key puts an instant's faults first (SCENARIOS.md: an at
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
	evStart        evKind = iota // a session of a spread-out fleet begins
	evWake                       // the machine's armed wake-up is due
	evResult                     // the answer to the refresh in flight arrives
	evCall                       // a periodic application call (aux: workload index)
	evBurst                      // a burst of application calls (aux: workload index)
	evWaitTimeout                // the oldest waiting calls give up (aux: the last waiting call's ticket)
	evFaultEnd                   // a fault window ends (sess: fault index)
	evRejectAccess               // the resource server starts rejecting current tokens (sess: fault index)
	evStore                      // a round trip of an attempt reaches the shared store (aux: flight<<8 | step)
	evStoreOp                    // a holder's follow-up reaches the shared store (aux: holder<<8 | op)
	evAdopt                      // a waiting process's Wait returns after a publish
	evRestart                    // a crashed process comes back
)

// rank is 0 for the events that change the world at an instant (faults)
// and 1 for those that act in it, which run after them at equal instants.
func rank(k evKind) uint64 {
	if k == evRejectAccess {
		return 0
	}
	return 1
}

// queue is a typed binary min-heap of events ordered by (at, seq). It
// avoids container/heap, whose interface calls and boxing cost an
// allocation per push.
type queue struct {
	ev  []event
	seq uint64
}

func (q *queue) len() int { return len(q.ev) }

func less(a, b *event) bool { return a.at < b.at || a.at == b.at && a.key < b.key }

// push adds an event of kind k, stamping it with the next sequence number.
func (q *queue) push(at int64, k evKind, sess uint32, aux uint64) {
	q.seq++
	e := event{at: at, key: rank(k)<<63 | q.seq<<8 | uint64(k), sess: sess, aux: aux}
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

// peek returns the earliest event; the queue must not be empty.
func (q *queue) peek() *event { return &q.ev[0] }

// pop removes and returns the earliest event; the queue must not be empty.
func (q *queue) pop() event {
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
