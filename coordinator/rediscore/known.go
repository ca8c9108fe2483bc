package rediscore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/authfsm/authfsm/session"
)

// What a Coordinator knows of its family between round trips, so that a
// Wait reads only what it cannot know: the family last read or announced
// (its generation, lease and mark: an announcement carries no secret), and
// the pair last read or published with its generation. A pair belongs to
// its generation (every publish counts one), so an announcement of the
// generation whose pair the coordinator holds is the whole family; one of
// a newer generation is read once, by one Wait for all the coordinator's
// Waits (readShared).

// sharedRead is one read of the family that the Waits woken by the
// announcement of one generation share.
type sharedRead struct {
	done chan struct{} // closed when fam and err are set
	fam  session.Family
	err  error
	// abandoned is set when the read ended with its reader's context:
	// the others read again.
	abandoned bool
}

// epochNow returns the epoch under which a command sent now reads, or 0
// when the coordinator is not subscribed (what it reads then may change
// unannounced to it).
func (c *Coordinator) epochNow() uint64 {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sub == nil {
		return 0
	}
	return a.epoch
}

// remember records f, read by a command sent under epoch, unless what it
// holds came later, and its pair.
func (c *Coordinator) remember(f session.Family, epoch uint64) {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pair.tok, a.pair.gen, a.pair.ok = f.Pair, f.Generation, true
	if epoch >= a.seen.epoch {
		f.Pair = session.Token{}
		a.seen.fam, a.seen.at, a.seen.epoch = f, time.Now(), epoch
	}
}

// publishing records that the coordinator is publishing generation gen
// (gen+1 of its Publish's), whose announcement may come before the reply:
// a Wait woken by it waits for the reply rather than read the pair. It
// returns the function that ends that, after knowPair if it succeeded.
func (c *Coordinator) publishing(gen uint64) (end func()) {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.publishes[gen] != nil {
		return func() {} // another of its sessions publishes it too
	}
	if a.publishes == nil {
		a.publishes = map[uint64]chan struct{}{}
	}
	ch := make(chan struct{})
	a.publishes[gen] = ch
	return func() {
		a.mu.Lock()
		delete(a.publishes, gen)
		a.mu.Unlock()
		close(ch)
	}
}

// knowPair records pair as generation gen's, which the coordinator
// published: its announcement is then the whole family.
func (c *Coordinator) knowPair(gen uint64, pair session.Token) {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pair.tok, a.pair.gen, a.pair.ok = pair, gen, true
}

// recall returns the family last read or announced, as it stands now;
// fresh if it is still the family's (read while subscribed, or announced,
// and nothing announced since), and whole if it holds its pair. What
// changes unannounced — a lease that lapses, one taken, a mark — is what a
// read a moment ago could have missed too; a lapsed lease is dropped.
func (c *Coordinator) recall() (f session.Family, fresh, whole bool) {
	a := &c.ann
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recallLocked()
}

// recallLocked is recall; a.mu is held.
func (a *announcements) recallLocked() (f session.Family, fresh, whole bool) {
	f = a.seen.fam
	fresh = a.sub != nil && a.seen.epoch != 0 && a.seen.epoch == a.epoch
	if whole = a.pair.ok && a.pair.gen == f.Generation; whole {
		f.Pair = a.pair.tok
	}
	f.Now = f.Now.Add(time.Since(a.seen.at))
	if !f.Lease.Held(f.Now) {
		f.Lease = session.Lease{}
	}
	return f, fresh, whole
}

// readShared reads the family for a Wait woken by the announcement of
// generation gen, whose pair the coordinator does not hold (or waits for
// the reply of its own publish of gen, which holds it): one read for
// all its Waits woken by it, the first Wait's, which the others wait for
// within their ctx (and make again, should the first one's ctx end it). A
// Wait that comes after that read, with nothing announced since, takes
// what it read.
func (c *Coordinator) readShared(ctx context.Context, gen uint64) (session.Family, error) {
	a := &c.ann
	for {
		a.mu.Lock()
		if f, fresh, whole := a.recallLocked(); fresh && whole && f.Generation == gen {
			a.mu.Unlock()
			return f, nil
		}
		if p := a.publishes[gen]; p != nil {
			a.mu.Unlock() // the coordinator's own publish: its reply holds the pair
			select {
			case <-p:
				continue
			case <-ctx.Done():
				return session.Family{}, ctx.Err()
			}
		}
		r := a.reads[gen]
		if r == nil {
			r = &sharedRead{done: make(chan struct{})}
			if a.reads == nil {
				a.reads = map[uint64]*sharedRead{}
			}
			a.reads[gen] = r
			a.mu.Unlock()
			r.fam, r.err = c.Read(ctx)
			r.abandoned = r.err != nil && ctx.Err() != nil
			a.mu.Lock()
			delete(a.reads, gen)
			a.mu.Unlock()
			close(r.done)
			return r.fam, r.err
		}
		a.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return session.Family{}, ctx.Err()
		}
		if !r.abandoned {
			return r.fam, r.err
		}
	}
}

// announced reads the family from an announcement (see scripts.go): its
// generation, lease and mark, no pair; false for one it cannot read, such
// as an older version's "published".
func (c *Coordinator) announced(payload string) (session.Family, bool) {
	var raw []json.RawMessage
	if json.Unmarshal([]byte(payload), &raw) != nil || len(raw) != 4 {
		return session.Family{}, false
	}
	var now string
	var holder any
	var pttl int64
	var flat []string
	if json.Unmarshal(raw[0], &now) != nil || json.Unmarshal(raw[1], &holder) != nil || json.Unmarshal(raw[2], &pttl) != nil {
		return session.Family{}, false
	}
	if string(raw[3]) != "{}" && json.Unmarshal(raw[3], &flat) != nil { // cjson writes an empty table as {}
		return session.Family{}, false
	}
	if len(flat)%2 != 0 {
		return session.Family{}, false
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		switch flat[i] {
		case fieldGeneration, fieldFlHolder, fieldFlGen, fieldFlAt:
			h[flat[i]] = flat[i+1]
		default:
			return session.Family{}, false // not this version's announcement
		}
	}
	v := []any{now, nil, pttl, []any{}}
	if s, ok := holder.(string); ok {
		v[1] = s
	}
	f, err := c.family(v, "announcement")
	if err != nil || c.parseFamily(h, &f) != nil {
		return session.Family{}, false
	}
	f.Pair = session.Token{}
	return f, true
}
