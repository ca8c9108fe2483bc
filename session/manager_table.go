package session

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the Manager's key table: a hash table per shard whose
// lookups take no lock, so that Manager.Token costs a hash and one slot on
// top of what Session.Token costs.
//
// Why not a map under a read lock: with 100,000 keys nothing of them stays
// in the cache, and a lookup costs its chain of dependent cache misses. A
// Go map under an RWMutex costs the lock's cache line (written by every
// reader, so it moves between cores), the group's control word, the slot,
// then the entry, the session and its snapshot: 4.5 times Session.Token on
// the same sessions, which misses on the session, then on its snapshot.
// Here a slot holds all a lookup needs — the hash, the key, the session's
// current snapshot (which the session keeps there, see Session.mirror) and
// the last use — so that after the slot only the snapshot is fetched: two
// misses deep, as Session.Token is, without touching the session.

// numShards splits the key table so that creating sessions for many keys
// does not serialise on one lock, and a table's growth copies a 64th.
const numShards = 64

const shardBits = 6 // log2(numShards)

// idleResolution is how precisely a key's last use is kept: writing it on
// every call would make each lookup dirty a cache line that the other
// cores read.
const idleResolution = time.Second

// slot is one place of a table: 64 bytes, one cache line. It is written
// under the shard's lock — h and key, then e, which publishes them; s and
// p once the entry's session is created, p again each time the session
// takes a new snapshot — except used. A deletion turns e into deletedEntry
// and clears s and p, and the slot is not used again until the table is
// rebuilt. A lookup that loaded s or p before a deletion gets a session
// being retired (whose Token says ErrClosed, which Manager.Token answers
// by asking again) or the snapshot it served until then.
//
// p stays nil for a session on another clock than the manager's, whose
// tokens Token's fast path leaves to Session.Token. used is the key's last
// use in clock nanoseconds, to idleResolution (see touch).
type slot struct {
	h    atomic.Uint64
	key  string
	e    atomic.Pointer[entry]
	s    atomic.Pointer[Session]
	p    atomic.Pointer[snapshot]
	used atomic.Int64
	_    [8]byte
}

// deletedEntry marks a slot whose entry was deleted.
var deletedEntry = &entry{}

// table is an open-addressing hash table with linear probing. Its size is
// a power of two, and at most 3/4 of its slots are ever written, so a
// probe always ends at an empty slot.
type table struct {
	slots   []slot
	mask    uint64
	written int         // slots written, deleted ones included (under the lock)
	live    int         // slots with an entry (under the lock)
	moved   atomic.Bool // a rebuild is copying the slots elsewhere
}

// shard is one part of the key table.
type shard struct {
	mu sync.Mutex // held by writers only
	t  atomic.Pointer[table]
	_  [48]byte // keep neighbouring shards apart
}

// hash returns key's hash under m's seed.
func (m *Manager) hash(key string) uint64 { return maphash.String(m.seed, key) }

// shardOf returns the shard of a key with hash h.
func (m *Manager) shardOf(h uint64) *shard { return &m.shards[h&(numShards-1)] }

// lookup returns key's entry, if any.
func (m *Manager) lookup(key string) (*entry, bool) {
	h := m.hash(key)
	if _, sl := m.shardOf(h).find(h, key); sl != nil {
		return sl.e.Load(), true
	}
	return nil, false
}

// find returns the slot of key (whose hash is h) and its table; a nil slot
// when there is none. It takes no lock and writes nothing.
func (sh *shard) find(h uint64, key string) (*table, *slot) {
	t := sh.t.Load()
	if t == nil {
		return nil, nil
	}
	for i := (h >> shardBits) & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		e := sl.e.Load()
		if e == nil {
			return t, nil
		}
		if e != deletedEntry && sl.h.Load() == h && sl.key == key {
			return t, sl
		}
	}
}

// touch records a use at now (clock nanoseconds) in sl, of table t, if the
// last one recorded is older than idleResolution. A rebuild copying the
// slot meanwhile may have missed it (it marks t moved before it copies):
// then it is recorded again in the new table, under the lock.
func (sh *shard) touch(t *table, sl *slot, now int64) {
	if now-sl.used.Load() <= int64(idleResolution) {
		return
	}
	sl.used.Store(now)
	if !t.moved.Load() {
		return
	}
	e := sl.e.Load()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if nsl := sh.slotOf(sl.h.Load(), e); nsl != nil && nsl.used.Load() < now {
		nsl.used.Store(now)
	}
}

// loadOrStore returns key's entry, storing e (whose key is key) with its
// first use at now when there is none.
func (sh *shard) loadOrStore(h uint64, e *entry, now int64) (*entry, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, sl := sh.find(h, e.key); sl != nil {
		return sl.e.Load(), true
	}
	t := sh.t.Load()
	if t == nil || (t.written+1)*4 > len(t.slots)*3 {
		t = sh.rebuild(t)
	}
	sl := &t.slots[t.place(h)]
	sl.h.Store(h)
	sl.key = e.key
	sl.used.Store(now)
	sl.e.Store(e)
	t.written++
	t.live++
	return e, false
}

// place returns the first empty slot on h's probe.
func (t *table) place(h uint64) uint64 {
	i := (h >> shardBits) & t.mask
	for t.slots[i].e.Load() != nil {
		i = (i + 1) & t.mask
	}
	return i
}

// rebuild replaces t (nil for none) with a table holding its live slots
// at most half full, and returns it. Lookups on the old table carry on.
func (sh *shard) rebuild(t *table) *table {
	n, live := 8, 0
	if t != nil {
		live = t.live
	}
	for n < (live+1)*2 {
		n *= 2
	}
	nt := &table{slots: make([]slot, n), mask: uint64(n - 1)}
	if t != nil {
		t.moved.Store(true)
		for i := range t.slots {
			sl := &t.slots[i]
			if e := sl.e.Load(); e != nil && e != deletedEntry {
				h := sl.h.Load()
				ns := &nt.slots[nt.place(h)]
				ns.h.Store(h)
				ns.key = sl.key
				ns.s.Store(sl.s.Load())
				ns.p.Store(sl.p.Load())
				ns.used.Store(sl.used.Load())
				ns.e.Store(e)
				nt.written++
				nt.live++
			}
		}
	}
	sh.t.Store(nt)
	return nt
}

// setSession makes s the session of e, found under hash h, and p its
// snapshot (nil: Token's fast path leaves it alone).
func (sh *shard) setSession(h uint64, e *entry, s *Session, p *snapshot) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sl := sh.slotOf(h, e); sl != nil {
		sl.p.Store(p)
		sl.s.Store(s)
	}
}

// mirror makes p the snapshot of e's slot, if e is still there. The
// session calls it under its lock, so the last call has its current one.
func (sh *shard) mirror(h uint64, e *entry, p *snapshot) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sl := sh.slotOf(h, e); sl != nil {
		sl.p.Store(p)
	}
}

// slotOf returns the slot of e, or nil; the caller holds the lock.
func (sh *shard) slotOf(h uint64, e *entry) *slot {
	t := sh.t.Load()
	if t == nil {
		return nil
	}
	for i := (h >> shardBits) & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		switch sl.e.Load() {
		case nil:
			return nil
		case e:
			return sl
		}
	}
}

// compareAndDelete deletes e (found under hash h) if it is still there.
func (sh *shard) compareAndDelete(h uint64, e *entry) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl := sh.slotOf(h, e)
	if sl == nil {
		return false
	}
	sl.e.Store(deletedEntry)
	sl.s.Store(nil) // the retired session is not kept alive by the table
	sl.p.Store(nil)
	sh.t.Load().live--
	return true
}

// each calls fn for a snapshot of every entry, with its last use.
func (m *Manager) each(fn func(key string, e *entry, used int64)) {
	type item struct {
		e    *entry
		used int64
	}
	var items []item
	for i := range m.shards {
		sh := &m.shards[i]
		items = items[:0]
		sh.mu.Lock()
		if t := sh.t.Load(); t != nil {
			for j := range t.slots {
				sl := &t.slots[j]
				if e := sl.e.Load(); e != nil && e != deletedEntry {
					items = append(items, item{e, sl.used.Load()})
				}
			}
		}
		sh.mu.Unlock()
		for _, it := range items {
			fn(it.e.key, it.e, it.used)
		}
	}
}
