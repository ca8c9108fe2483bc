package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// DefaultIdleTimeout is how long a Manager keeps a session nobody asked for
// a token, unless WithIdleTimeout says otherwise.
const DefaultIdleTimeout = 10 * time.Minute

// Manager keeps one Session per key — typically one end user's token
// family in a multi-user service — created on demand by a factory (which
// usually gives each key its own Coordinator or Store, so a new process
// resumes the user's family from the shared store) and closed again once
// idle. Its Token is safe for concurrent use and, while the key's session
// holds a valid token, costs a lock-free map lookup on top of
// Session.Token.
//
// What it holds is bounded: an idle session has no goroutine (only its one
// timer), sessions unused for the idle timeout are closed by one janitor
// goroutine, and WithMaxSessions caps their number, closing the least
// recently used first. Closing goes through Session.Shutdown, so a rotated
// pair in flight is still saved.
type Manager struct {
	factory func(ctx context.Context, key string) (*Session, error)
	idle    time.Duration
	max     int
	clock   clock.Clock

	shards  [numShards]shard
	n       atomic.Int64
	evictMu sync.Mutex // one eviction at a time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// numShards splits the key map so that lookups from many goroutines do not
// share one lock's cache line.
const numShards = 64

// shard is one part of the key map. A plain map under a read lock costs
// one hash and about two cache misses per lookup, where a sync.Map of 100k
// keys walks a trie of several.
type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
	_  [40]byte // keep neighbouring shards' locks off one cache line
}

func (m *Manager) shard(key string) *shard {
	// FNV-1a: cheap, and good enough to spread user ids.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &m.shards[h%numShards]
}

func (sh *shard) load(key string) (*entry, bool) {
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	return e, ok
}

// loadOrStore returns key's entry, storing e when there is none.
func (sh *shard) loadOrStore(key string, e *entry) (*entry, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[key]; ok {
		return old, true
	}
	if sh.m == nil {
		sh.m = map[string]*entry{}
	}
	sh.m[key] = e
	return e, false
}

// compareAndDelete deletes key's entry if it is e.
func (sh *shard) compareAndDelete(key string, e *entry) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != e {
		return false
	}
	delete(sh.m, key)
	return true
}

// each calls fn for a snapshot of every entry.
func (m *Manager) each(fn func(key string, e *entry)) {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		keys := make([]string, 0, len(sh.m))
		es := make([]*entry, 0, len(sh.m))
		for k, e := range sh.m {
			keys, es = append(keys, k), append(es, e)
		}
		sh.mu.RUnlock()
		for j := range keys {
			fn(keys[j], es[j])
		}
	}
}

// entry is one key's session, created once by whoever asks first.
type entry struct {
	ready chan struct{} // closed once s or err is set
	s     *Session
	err   error
	used  atomic.Int64 // last use, in clock nanoseconds
}

// A ManagerOption configures a Manager.
type ManagerOption func(*Manager)

// WithIdleTimeout closes a key's session once nobody asked for its token
// for d (default DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) ManagerOption { return func(m *Manager) { m.idle = d } }

// WithMaxSessions caps the number of sessions; beyond it the least recently
// used one is closed. 0, the default, sets no cap.
func WithMaxSessions(n int) ManagerOption { return func(m *Manager) { m.max = n } }

// WithManagerClock sets the clock that measures idleness (default
// clock.New()).
func WithManagerClock(c clock.Clock) ManagerOption { return func(m *Manager) { m.clock = c } }

// ErrManagerClosed is returned by a Manager's Token and Session after Close.
var ErrManagerClosed = errors.New("session: manager closed")

// NewManager returns a Manager that creates a key's session with factory
// on its first use. factory must not return a nil Session without an error.
func NewManager(factory func(ctx context.Context, key string) (*Session, error), opts ...ManagerOption) *Manager {
	m := &Manager{factory: factory, idle: DefaultIdleTimeout, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(m)
	}
	if m.clock == nil {
		m.clock = clock.New()
	}
	go m.janitor()
	return m
}

// Token returns a usable access token for key, creating key's session if
// needed. Errors are Session.Token's, or the factory's.
func (m *Manager) Token(ctx context.Context, key string) (Token, error) {
	for range 2 {
		s, err := m.Session(ctx, key)
		if err != nil {
			return Token{}, err
		}
		t, err := s.Token(ctx)
		if !errors.Is(err, ErrClosed) {
			return t, err
		}
		// Evicted between the lookup and the call: make it anew once.
	}
	return Token{}, ErrClosed
}

// Session returns key's session, creating it with the factory if there is
// none. Concurrent first calls for one key create one session; a failed
// creation is not remembered, so the next call tries again.
func (m *Manager) Session(ctx context.Context, key string) (*Session, error) {
	select {
	case <-m.stop:
		return nil, ErrManagerClosed
	default:
	}
	now := m.clock.Now().UnixNano()
	sh := m.shard(key)
	if e, ok := sh.load(key); ok {
		// Idleness is measured in seconds: writing the time on every call
		// would make each lookup dirty a cache line.
		if now-e.used.Load() > int64(time.Second) {
			e.used.Store(now)
		}
		return m.await(ctx, key, e)
	}
	e := &entry{ready: make(chan struct{})}
	e.used.Store(now)
	if old, loaded := sh.loadOrStore(key, e); loaded {
		return m.await(ctx, key, old)
	}
	s, err := m.factory(ctx, key)
	if err == nil && s == nil {
		err = errors.New("session: manager factory returned no session")
	}
	e.s, e.err = s, err
	close(e.ready)
	if err != nil {
		sh.compareAndDelete(key, e)
		return nil, err
	}
	if n := m.n.Add(1); m.max > 0 && n > int64(m.max) {
		m.evictLRU()
	}
	return s, nil
}

func (m *Manager) await(ctx context.Context, key string, e *entry) (*Session, error) {
	select {
	case <-e.ready:
		return e.s, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Len returns the number of sessions the manager holds.
func (m *Manager) Len() int { return int(m.n.Load()) }

// Close stops the janitor and shuts every session down (see
// Session.Shutdown), returning the first error.
func (m *Manager) Close() error {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	var first error
	m.each(func(key string, e *entry) {
		if err := m.remove(key, e); err != nil && first == nil {
			first = err
		}
	})
	return first
}

// janitor closes idle sessions every half idle timeout.
func (m *Manager) janitor() {
	defer close(m.done)
	if m.idle <= 0 {
		<-m.stop
		return
	}
	t := m.clock.Ticker(m.idle / 2)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			cutoff := m.clock.Now().Add(-m.idle).UnixNano()
			m.each(func(key string, e *entry) {
				if e.used.Load() < cutoff {
					m.remove(key, e)
				}
			})
		}
	}
}

// evictLRU closes the least recently used sessions until the cap holds. It
// scans every key, so a cap suits a service that rarely reaches it.
func (m *Manager) evictLRU() {
	m.evictMu.Lock()
	defer m.evictMu.Unlock()
	for m.n.Load() > int64(m.max) {
		var oldKey string
		var old *entry
		m.each(func(key string, e *entry) {
			select {
			case <-e.ready:
			default:
				return // still being created
			}
			if old == nil || e.used.Load() < old.used.Load() {
				oldKey, old = key, e
			}
		})
		if old == nil {
			return
		}
		m.remove(oldKey, old)
	}
}

// remove forgets key's entry, if it is still e, and shuts its session down.
func (m *Manager) remove(key string, e *entry) error {
	if !m.shard(key).compareAndDelete(key, e) {
		return nil
	}
	<-e.ready
	if e.s == nil {
		return nil
	}
	m.n.Add(-1)
	return e.s.Close()
}
