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
//
// Eviction never makes a caller wait for another user's session: the
// caller whose new session goes beyond WithMaxSessions only takes the least
// recently used one out of the map, and that session shuts down in the
// background — a refresh in flight runs to its end (within its request
// timeout), its rotated pair is saved to the session's store, its audit
// records are delivered — so Token for a new key honours its context even
// while the identity provider is slow. A key asked for again while its
// evicted session is still shutting down waits for that shutdown, within
// the caller's context, before the factory runs: the new session then
// starts from the pair the old one saved, never from a refresh token the
// old one's refresh has just rotated away. Close waits for every shutdown.
type Manager struct {
	factory func(ctx context.Context, key string) (*Session, error)
	idle    time.Duration
	max     int
	clock   clock.Clock

	shards  [numShards]shard
	n       atomic.Int64
	evictMu sync.Mutex // one eviction scan at a time

	// closing holds the shutdown in progress of each key's retired session,
	// closed when it is done; closeErr is the first error of a shutdown
	// run in the background, for Close to return.
	closeMu  sync.Mutex
	closing  map[string]chan struct{}
	closeErr error

	stop   chan struct{}
	closed atomic.Bool // stop is closed: the lookup's check without a select
	done   chan struct{}
	once   sync.Once
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
	// live is s once it was created: the lookup's fast path reads it
	// instead of waiting on ready, which costs a select per call.
	live atomic.Pointer[Session]
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

// isContextErr reports whether err is a context's cancellation or deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// NewManager returns a Manager that creates a key's session with factory
// on its first use. factory must not return a nil Session without an error.
func NewManager(factory func(ctx context.Context, key string) (*Session, error), opts ...ManagerOption) *Manager {
	m := &Manager{factory: factory, idle: DefaultIdleTimeout, closing: make(map[string]chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
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
// needed. It honours ctx throughout: creating a session that goes beyond
// WithMaxSessions evicts another one without waiting for its shutdown (see
// Manager). Errors are Session.Token's, the factory's, or ctx's (wrapped)
// while key's evicted session is still shutting down.
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
// creation is not remembered, so the next call tries again. Before
// creating, it waits (within ctx) for key's evicted session, if any, to
// finish shutting down.
func (m *Manager) Session(ctx context.Context, key string) (*Session, error) {
	for {
		if m.closed.Load() {
			return nil, ErrManagerClosed
		}
		now := m.clock.Now().UnixNano()
		sh := m.shard(key)
		e, ok := sh.load(key)
		if ok {
			// Idleness is measured in seconds: writing the time on every
			// call would make each lookup dirty a cache line.
			if now-e.used.Load() > int64(time.Second) {
				e.used.Store(now)
			}
		} else {
			e = &entry{ready: make(chan struct{})}
			e.used.Store(now)
			if old, loaded := sh.loadOrStore(key, e); loaded {
				e = old
			} else {
				return m.create(ctx, key, e)
			}
		}
		if s := e.live.Load(); s != nil {
			return s, nil
		}
		s, err := m.await(ctx, e)
		if err != nil && isContextErr(err) && ctx.Err() == nil {
			// Another caller's context ended the creation; ours has not.
			// Its failed entry may still be in the map: take it out, try
			// again.
			sh.compareAndDelete(key, e)
			continue
		}
		return s, err
	}
}

// create makes key's session for e, which this caller stored, and evicts
// beyond the cap.
func (m *Manager) create(ctx context.Context, key string, e *entry) (*Session, error) {
	var s *Session
	err := m.awaitShutdown(ctx, key)
	if err == nil {
		s, err = m.factory(ctx, key)
		if err == nil && s == nil {
			err = errors.New("session: manager factory returned no session")
		}
	}
	e.s, e.err = s, err
	if err == nil {
		e.live.Store(s)
	}
	close(e.ready)
	if err != nil {
		m.shard(key).compareAndDelete(key, e)
		return nil, err
	}
	if n := m.n.Add(1); m.max > 0 && n > int64(m.max) {
		m.evictLRU(e)
	}
	return s, nil
}

func (m *Manager) await(ctx context.Context, e *entry) (*Session, error) {
	select {
	case <-e.ready:
		return e.s, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Len returns the number of sessions the manager holds.
func (m *Manager) Len() int { return int(m.n.Load()) }
