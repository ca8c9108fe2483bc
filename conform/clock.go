package conform

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Clock is a virtual clock that runs every goroutine of a run itself, one
// at a time, so that a run of real sessions is as reproducible as the
// simulator's: the goroutines the sessions start (Go), the callbacks of
// their timers (AfterFunc), the deadlines of their requests (WithTimeout)
// and the waits of their callers (Wait) all go through it. A goroutine it
// runs keeps control until it blocks on the clock (Sleep, Wait, a wait of
// the scenario's server or shared store) or returns; the clock then hands
// control to the next task of the current instant, in the order the tasks
// were scheduled, and moves its time to the next instant only when none is
// left and no blocked goroutine can go on (a channel it waits for closed,
// its context ended). It implements session.DrivingClock.
//
// The goroutines it runs must block on nothing but the clock: a lock held
// across a wait on the clock, or a channel that no task of the run closes,
// stops the run, which Run reports as ErrStalled after StallAfter of real
// time. Timers it returns support Stop, not Reset; tickers never tick.
// After, Timer and Tick deliver on channels that the clock does not watch,
// so no goroutine of a run may block on them.
type Clock struct {
	mu      sync.Mutex
	origin  time.Time
	now     time.Duration
	seq     uint64
	tasks   taskHeap
	waiting []*waiter // goroutines blocked on a channel or a context, in the order they blocked
	yield   chan struct{}
	done    chan struct{} // closed by Stop
	idle    []chan func() // idle worker goroutines
	stopped bool
	err     error
	// StallAfter is how much real time one task may run before Run gives
	// up with ErrStalled; DefaultStallAfter when zero.
	StallAfter time.Duration
}

// DefaultStallAfter is how long a task of a run may keep control, in real
// time, before Run reports the run stalled.
const DefaultStallAfter = 30 * time.Second

// ErrStalled is returned by Clock.Run when a goroutine of the run blocked
// on something other than the clock (a lock held by a blocked goroutine, a
// channel nobody closes) or ran for longer than StallAfter.
var ErrStalled = errors.New("conform: a goroutine of the run blocked outside the clock")

// NewClock returns a clock that reads origin at virtual time 0.
func NewClock(origin time.Time) *Clock {
	return &Clock{origin: origin, yield: make(chan struct{}), done: make(chan struct{})}
}

// task is one thing to do at an instant: start fn on a new goroutine
// (or, inline, run it on Run's own), or resume w.
type task struct {
	at  time.Duration
	seq uint64
	fn  func()
	// t, when set, is the timer whose callback fn is: fn runs only if t
	// was not stopped.
	t *timer
	// inline: fn only ends a context or fills a buffered channel; Run
	// calls it itself.
	inline bool
	// must: fn is a goroutine a session started (Go), which Stop starts
	// even after the run.
	must bool
	w    *waiter
	why  wake
}

type taskHeap []task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = task{}
	*h = old[:len(old)-1]
	return t
}

// waiter is a goroutine blocked on the clock: until an instant (a task
// resumes it), a channel closing, or a context ending.
type waiter struct {
	wake chan wake
	ch   <-chan struct{}
	ctx  context.Context
	// resumed: a resume is scheduled; its instant's task is stale.
	resumed bool
	// sent: the goroutine was told to go on.
	sent bool
	// group and rank, when group is set, order the waiters of one group
	// that go on at one instant (blockRanked).
	group any
	rank  int
}

// wake says why a blocked goroutine goes on.
type wake uint8

const (
	wakeTime    wake = iota // its instant came
	wakeChannel             // its channel closed
	wakeContext             // its context ended
	wakeStopped             // the run is over
)

// send tells w to go on, once. mu is held.
func (w *waiter) send(why wake) bool {
	if w.sent {
		return false
	}
	w.sent = true
	w.wake <- why
	return true
}

// schedule queues a task at virtual time at (at least now). mu is held.
func (c *Clock) schedule(at time.Duration, t task) {
	c.seq++
	t.at, t.seq = max(at, c.now), c.seq
	heap.Push(&c.tasks, t)
}

// At runs fn on a goroutine of the clock's at virtual time at (now if at
// has passed), after the tasks already scheduled for that instant.
func (c *Clock) At(at time.Duration, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.schedule(at, task{fn: fn})
	}
}

// Elapsed returns the virtual time.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Run runs the tasks due before end, in order, and returns when none is
// left before end, the virtual time being then end; or when a task stalled
// (ErrStalled) or misused the clock.
func (c *Clock) Run(end time.Duration) error {
	stall := c.StallAfter
	if stall <= 0 {
		stall = DefaultStallAfter
	}
	guard := time.NewTimer(stall)
	defer guard.Stop()
	for {
		c.mu.Lock()
		if err := c.err; err != nil {
			c.mu.Unlock()
			return err
		}
		if len(c.tasks) == 0 || c.tasks[0].at > c.now {
			c.unblockLocked()
		}
		if len(c.tasks) == 0 || c.tasks[0].at >= end {
			c.now = max(c.now, end)
			c.mu.Unlock()
			return nil
		}
		t := heap.Pop(&c.tasks).(task)
		c.now = t.at
		switch {
		case t.w != nil:
			if t.why == wakeTime && t.w.resumed || !t.w.send(t.why) {
				c.mu.Unlock()
				continue
			}
			t.w.resumed = true
		case t.t != nil && !t.t.fire():
			c.mu.Unlock()
			continue
		case t.inline:
			c.mu.Unlock()
			t.fn()
			continue
		default:
			c.startLocked(t.fn)
		}
		c.mu.Unlock()
		guard.Reset(stall)
		select {
		case <-c.yield:
		case <-guard.C:
			c.mu.Lock()
			c.err = ErrStalled
			c.mu.Unlock()
			return ErrStalled
		}
	}
}

// unblockLocked schedules, at the current instant, the resumption of the
// blocked goroutines that can go on, in the order they blocked (those of
// one group in the order of their ranks, in the places they hold in it):
// their channel closed or their context ended. No task of this instant is
// left, so nothing else can close a channel or end a context before they
// go on.
func (c *Clock) unblockLocked() {
	kept := c.waiting[:0]
	var ready []*waiter
	var whys []wake
	for _, w := range c.waiting {
		if w.resumed {
			continue
		}
		why, ok := w.ready()
		if !ok {
			kept = append(kept, w)
			continue
		}
		w.resumed = true
		ready, whys = append(ready, w), append(whys, why)
	}
	clear(c.waiting[len(kept):])
	c.waiting = kept
	rankGroups(ready, whys)
	for k, w := range ready {
		c.schedule(c.now, task{w: w, why: whys[k]})
	}
}

// rankGroups orders the waiters of each group by rank, each group within
// the places its waiters hold in ws (and their reasons in whys with them).
func rankGroups(ws []*waiter, whys []wake) {
	places := map[any][]int{}
	for k, w := range ws {
		if w.group != nil {
			places[w.group] = append(places[w.group], k)
		}
	}
	for _, at := range places {
		if len(at) < 2 {
			continue
		}
		sorted := make([]int, len(at))
		copy(sorted, at)
		slices.SortStableFunc(sorted, func(a, b int) int { return cmp.Compare(ws[a].rank, ws[b].rank) })
		group, reasons := make([]*waiter, len(at)), make([]wake, len(at))
		for k, from := range sorted {
			group[k], reasons[k] = ws[from], whys[from]
		}
		for k, to := range at {
			ws[to], whys[to] = group[k], reasons[k]
		}
	}
}

// ready reports whether w's channel is closed or its context ended; the
// channel first.
func (w *waiter) ready() (wake, bool) {
	if w.ch != nil {
		select {
		case <-w.ch:
			return wakeChannel, true
		default:
		}
	}
	if w.ctx != nil && w.ctx.Err() != nil {
		return wakeContext, true
	}
	return 0, false
}

// handBack gives control back to Run, unless the run is over.
func (c *Clock) handBack() {
	select {
	case c.yield <- struct{}{}:
	case <-c.done:
	}
}

// startLocked runs fn on an idle worker goroutine, or a new one. mu is
// held.
func (c *Clock) startLocked(fn func()) {
	if n := len(c.idle); n > 0 {
		w := c.idle[n-1]
		c.idle = c.idle[:n-1]
		w <- fn
		return
	}
	w := make(chan func(), 1)
	go c.work(w, fn)
}

// work is a worker goroutine: it runs fn, hands control back to Run, and
// waits idle for the next function, until the run is over. Reusing
// workers spares each task a new goroutine and the growth of its stack.
func (c *Clock) work(w chan func(), fn func()) {
	for {
		fn()
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return
		}
		c.idle = append(c.idle, w)
		c.mu.Unlock()
		c.handBack()
		select {
		case fn = <-w:
		case <-c.done:
			return
		}
	}
}

// block blocks the calling goroutine, one that the clock runs, until the
// virtual instant at (none when negative), ch closes or ctx ends (either
// may be nil), and returns why it goes on.
func (c *Clock) block(at time.Duration, ch <-chan struct{}, ctx context.Context) wake {
	return c.blockRanked(at, ch, ctx, nil, 0)
}

// blockRanked is block for a goroutine of group (when not nil): the
// goroutines of one group that go on at one instant because their channel
// closed or their context ended go on in the order of their ranks, not in
// the order they blocked. A shared store's waiting processes are a group,
// ranked by their index in the fleet, as the simulator wakes them.
func (c *Clock) blockRanked(at time.Duration, ch <-chan struct{}, ctx context.Context, group any, rank int) wake {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
				return wakeChannel
			default:
			}
		}
		return wakeStopped
	}
	w := &waiter{wake: make(chan wake, 1), ch: ch, ctx: ctx, group: group, rank: rank}
	if at >= 0 {
		c.schedule(at, task{w: w, why: wakeTime})
	}
	if ch != nil || ctx != nil {
		c.waiting = append(c.waiting, w)
	}
	c.mu.Unlock()
	c.handBack()
	return <-w.wake
}

// Stop ends the run: every blocked goroutine goes on (a wait on the clock
// then reports that the run is over), the goroutines that sessions asked
// for and that did not start yet start, timers never fire, and the
// goroutines of the run no longer take turns. Call it once Run returned.
func (c *Clock) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	close(c.done)
	for _, w := range c.waiting {
		w.send(wakeStopped)
	}
	for _, t := range c.tasks {
		switch {
		case t.w != nil:
			t.w.send(wakeStopped)
		case t.must:
			go t.fn()
		}
	}
	c.tasks, c.waiting = nil, nil
}
