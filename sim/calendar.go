package sim

import "math/bits"

// calendar holds the events that no lane takes (retries at random delays,
// absolute instants) in the order of a binary heap, as a calendar queue:
// a ring of buckets of 2^calShift nanoseconds each, appended to without
// order, of which only the current one, the bucket of the instant being
// processed, is a heap. With a million sessions retrying through an
// outage, a heap of them all is a million events whose every level is a
// cache miss; one bucket's few thousand stay in the cache. Events beyond
// the ring's reach wait in a heap of their own (far) and move into the
// ring as it comes near.
type calendar struct {
	cur  int64   // the current bucket: the processed instant >> calShift
	heap []event // the events of buckets up to cur, a binary heap
	ring [calBuckets][]event
	full [calBuckets / 64]uint64 // bit set: the ring's bucket holds events
	far  []event                 // the events of buckets from cur+calBuckets, a binary heap
	n    int
	// spare holds the room of consumed crowded buckets, for the next to
	// grow.
	spare [][]event
	// next is, when nextOK, the earliest event after the current bucket
	// (in bucket nextB), which peek shows while the heap is empty.
	next   event
	nextB  int64
	nextOK bool
}

const (
	calShift   = 25 // a bucket is 2^25 ns, about 34 ms
	calBuckets = 4096
	calKeep    = 256 // the most events a consumed bucket keeps room for
	calSpare   = 64  // the most rooms of crowded buckets kept for others
)

func (c *calendar) len() int { return c.n }

func (c *calendar) push(e event) {
	c.n++
	b := e.at >> calShift
	switch {
	case b <= c.cur:
		heapPush(&c.heap, e)
		return
	case b < c.cur+calBuckets:
		k := b & (calBuckets - 1)
		if len(c.ring[k]) == cap(c.ring[k]) && len(c.spare) > 0 {
			// Growing: a consumed crowded bucket's room, if any.
			c.ring[k] = append(c.spare[len(c.spare)-1], c.ring[k]...)
			c.spare = c.spare[:len(c.spare)-1]
		}
		c.ring[k] = append(c.ring[k], e)
		c.full[k/64] |= 1 << (k % 64)
	default:
		heapPush(&c.far, e)
	}
	if c.nextOK && (b < c.nextB || b == c.nextB && less(&e, &c.next)) {
		c.next, c.nextB = e, b
	}
}

// peek returns the earliest event, or nil when there is none.
func (c *calendar) peek() *event {
	if len(c.heap) > 0 {
		return &c.heap[0]
	}
	if !c.nextOK {
		if b, ok := c.nextFull(); ok {
			k := b & (calBuckets - 1)
			m := 0
			for j := range c.ring[k] {
				if less(&c.ring[k][j], &c.ring[k][m]) {
					m = j
				}
			}
			c.next, c.nextB = c.ring[k][m], b
		} else if len(c.far) > 0 {
			c.next, c.nextB = c.far[0], c.far[0].at>>calShift
		} else {
			return nil
		}
		c.nextOK = true
	}
	return &c.next
}

func (c *calendar) pop() event {
	if len(c.heap) == 0 {
		c.peek()
		c.moveTo(c.nextB)
	}
	c.n--
	return heapPop(&c.heap)
}

// moveTo makes bucket b, which no pending event precedes, the current one.
func (c *calendar) moveTo(b int64) {
	if b <= c.cur {
		return
	}
	c.cur, c.nextOK = b, false
	if k := b & (calBuckets - 1); c.full[k/64]&(1<<(k%64)) != 0 {
		for _, e := range c.ring[k] {
			heapPush(&c.heap, e)
		}
		if cap(c.ring[k]) > calKeep {
			// A crowded bucket (an outage's retries) passes its room on
			// to the next that grows: each of the ring's buckets keeping
			// the most it ever held would be many times the events
			// pending.
			if len(c.spare) < calSpare {
				c.spare = append(c.spare, c.ring[k][:0])
			}
			c.ring[k] = nil
		}
		c.ring[k] = c.ring[k][:0]
		c.full[k/64] &^= 1 << (k % 64)
	}
	for len(c.far) > 0 && c.far[0].at>>calShift < c.cur+calBuckets {
		e := heapPop(&c.far)
		c.n-- // push counts it again
		c.push(e)
	}
}

// nextFull returns the first bucket after cur, within the ring's reach,
// that holds events.
func (c *calendar) nextFull() (int64, bool) {
	start := (c.cur + 1) & (calBuckets - 1)
	for scanned := int64(0); scanned < calBuckets; {
		k := (start + scanned) & (calBuckets - 1)
		if w := c.full[k/64] >> (k % 64); w != 0 {
			return c.cur + 1 + scanned + int64(bits.TrailingZeros64(w)), true
		}
		scanned += 64 - k%64
	}
	return 0, false
}

// heapPush adds e to the binary heap h.
func heapPush(h *[]event, e event) {
	*h = append(*h, e)
	ev := *h
	i := len(ev) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&ev[i], &ev[parent]) {
			break
		}
		ev[i], ev[parent] = ev[parent], ev[i]
		i = parent
	}
}

// heapPop removes and returns the least event of the binary heap h.
func heapPop(h *[]event) event {
	ev := *h
	top := ev[0]
	n := len(ev) - 1
	ev[0] = ev[n]
	ev = ev[:n]
	*h = ev
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&ev[r], &ev[l]) {
			m = r
		}
		if !less(&ev[m], &ev[i]) {
			break
		}
		ev[i], ev[m] = ev[m], ev[i]
		i = m
	}
	return top
}
