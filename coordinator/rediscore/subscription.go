package rediscore

import (
	"context"
	"sync"
	"time"

	"github.com/authfsm/authfsm/session"
)

// DefaultSubscriptionIdle is how long a Coordinator keeps its subscription
// after its last Wait returned, unless WithSubscriptionIdle says otherwise:
// long enough to span the waits of one refresh and those that follow soon,
// short enough that a process holding many families' coordinators (one per
// user of a session.Manager) does not hold a connection for each.
const DefaultSubscriptionIdle = 10 * time.Minute

// WithSubscriptionIdle sets how long the coordinator keeps its subscription
// once no Wait uses it (DefaultSubscriptionIdle if d is not positive).
func WithSubscriptionIdle(d time.Duration) Option {
	return func(c *Coordinator) {
		if d > 0 {
			c.ann.idle = d
		}
	}
}

// announcements is a Coordinator's one subscription to its family's
// channel, which every Wait listens to, and what the coordinator knows of
// its family (known.go).
type announcements struct {
	mu        sync.Mutex
	sub       Subscription           // nil: none
	subbing   chan struct{}          // closed when the subscribe under way ends
	listeners map[chan struct{}]bool // one per Wait, woken by each announcement
	idle      time.Duration          // how long sub outlives its last listener
	idleTimer *time.Timer            // ends sub when it fires
	idleArm   uint64                 // counts the idle timers armed and disarmed
	// epoch counts announcements, subscriptions and their ends: a read
	// made under one epoch is still the family's while the epoch is the
	// same, since every change but a lapse is announced.
	epoch uint64
	// seen is the family last read or announced, without its pair: its
	// generation, lease and mark.
	seen struct {
		fam   session.Family
		at    time.Time // when it came
		epoch uint64    // when its command was sent; 0: not subscribed then
	}
	// pair is the pair last read or published, and its generation: what
	// an announcement of that generation leaves out.
	pair struct {
		tok session.Token
		gen uint64
		ok  bool
	}
	reads     map[uint64]*sharedRead   // the reads under way for a generation announced
	publishes map[uint64]chan struct{} // the generations its Publishes under way would make
}

// listen returns a channel that receives a value after each announcement
// (and when the subscription ends), until unlisten.
func (c *Coordinator) listen() chan struct{} {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := make(chan struct{}, 1)
	if a.listeners == nil {
		a.listeners = map[chan struct{}]bool{}
	}
	a.listeners[ch] = true
	a.disarm()
	return ch
}

// arm starts the idle timer of sub; a.mu is held.
func (c *Coordinator) arm(sub Subscription) {
	a := &c.ann
	a.disarm()
	arm := a.idleArm
	a.idleTimer = time.AfterFunc(a.idle, func() {
		a.mu.Lock()
		live := a.idleArm == arm && a.sub == sub && len(a.listeners) == 0
		a.mu.Unlock()
		if live {
			c.endSubscription(sub)
		}
	})
}

// disarm stops the idle timer, whose callback, should it run already,
// then does nothing; a.mu is held.
func (a *announcements) disarm() {
	a.idleArm++
	if a.idleTimer != nil {
		a.idleTimer.Stop()
		a.idleTimer = nil
	}
}

// unlisten stops ch's announcements; the last listener leaves the
// subscription for the idle time.
func (c *Coordinator) unlisten(ch chan struct{}) {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.listeners, ch)
	if len(a.listeners) == 0 && a.sub != nil {
		c.arm(a.sub)
	}
}

// subscribe makes sure the coordinator is subscribed: it subscribes, or
// waits for the Wait that is subscribing, within ctx.
func (c *Coordinator) subscribe(ctx context.Context) error {
	a := &c.ann
	for {
		a.mu.Lock()
		if a.sub != nil {
			a.mu.Unlock()
			return nil
		}
		if wait := a.subbing; wait != nil {
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		a.subbing = done
		a.mu.Unlock()
		sub, err := c.conn.Subscribe(ctx, c.channel)
		a.mu.Lock()
		a.subbing = nil
		close(done)
		if err == nil {
			a.sub = sub
			a.epoch++
			if len(a.listeners) == 0 {
				c.arm(sub)
			}
		}
		a.mu.Unlock()
		if err != nil {
			return err
		}
		go c.forward(sub)
		return nil
	}
}

// forward wakes every listener at each of sub's announcements, and when it
// ends. When the announcement is of a generation whose pair the
// coordinator does not hold, it reads the family first, once for all the
// listeners (see readShared), and wakes them after: a thousand Waits woken
// at once would make the read's reply wait for the CPU behind them.
func (c *Coordinator) forward(sub Subscription) {
	ps, _ := sub.(PayloadSubscription)
	for range sub.Messages() {
		var f session.Family
		var ok bool
		if ps != nil {
			if p, has := ps.LastPayload(); has {
				f, ok = c.announced(p)
			}
		}
		a := &c.ann
		a.mu.Lock()
		a.epoch++
		var r *sharedRead
		if ok {
			// The family as the change left it, but for its pair.
			a.seen.fam, a.seen.at, a.seen.epoch = f, time.Now(), a.epoch
			if len(a.listeners) > 0 && a.reads[f.Generation] == nil && a.publishes[f.Generation] == nil &&
				(!a.pair.ok || a.pair.gen != f.Generation) {
				r = &sharedRead{done: make(chan struct{})}
				if a.reads == nil {
					a.reads = map[uint64]*sharedRead{}
				}
				a.reads[f.Generation] = r
			}
		}
		a.mu.Unlock()
		if r != nil {
			ctx, cancel := context.WithTimeout(context.Background(), forwardReadTimeout)
			r.fam, r.err = c.Read(ctx)
			cancel()
			r.abandoned = r.err != nil // the Waits read for themselves
			a.mu.Lock()
			delete(a.reads, f.Generation)
			a.mu.Unlock()
			close(r.done)
		}
		a.mu.Lock()
		a.wake()
		a.mu.Unlock()
	}
	c.endSubscription(sub)
}

// forwardReadTimeout bounds the read an announcement makes before it
// wakes the Waits; should it fail, each Wait reads (sharing that read).
const forwardReadTimeout = 5 * time.Second

// wake wakes every listener; a.mu is held.
func (a *announcements) wake() {
	for ch := range a.listeners {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// endSubscription closes sub and, if it is still the coordinator's, drops
// it: the listeners poll until a Wait subscribes again.
func (c *Coordinator) endSubscription(sub Subscription) {
	a := &c.ann
	a.mu.Lock()
	if a.sub == sub {
		a.sub = nil
		a.epoch++
		a.disarm()
		a.wake()
	}
	a.mu.Unlock()
	sub.Close()
}

// Close ends the coordinator's subscription, if any; a later Wait opens
// another. The Conn is the caller's to close.
func (c *Coordinator) Close() error {
	c.ann.mu.Lock()
	sub := c.ann.sub
	c.ann.mu.Unlock()
	if sub != nil {
		c.endSubscription(sub)
	}
	return nil
}
