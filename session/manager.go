package session

import (
	"context"
	"errors"
	"hash/maphash"
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
// holds a valid token, costs a hash and a lookup in a table that takes no
// lock and that the session keeps its current token in: over 100,000 keys,
// about 1.2 times Session.Token on the same sessions (BenchmarkManagerToken).
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

	seed    maphash.Seed
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

	// beforeToken, when set (by tests), runs in Token between the lookup
	// of key's session and the call of its Token.
	beforeToken func(key string)
}

// entry is one key's session, created once by whoever asks first.
type entry struct {
	key   string
	ready chan struct{} // closed once s or err is set
	s     *Session
	err   error
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
		seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
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
// Manager). A session evicted between its lookup and its Token, however
// often, is looked up again (made anew): Token answers ErrClosed only for
// a session closed otherwise (by its user) that the manager still holds.
// Errors are Session.Token's, the factory's, or ctx's (wrapped while key's
// evicted session is still shutting down).
func (m *Manager) Token(ctx context.Context, key string) (Token, error) {
	// The fast path: Session.Token's, from the session's snapshot that its
	// slot holds (see slot), found without a lock or a write. The clock is
	// read before the snapshot: reading it waits for the loads before it,
	// so that the snapshot's cache miss overlaps with the next call's.
	if !m.closed.Load() {
		h := m.hash(key)
		sh := m.shardOf(h)
		if t, sl := sh.find(h, key); sl != nil {
			if p := sl.p.Load(); p != nil {
				if now := m.clock.Now(); now.Before(p.until) {
					sh.touch(t, sl, now.UnixNano())
					return p.tok, nil
				}
			}
		}
	}
	for retry := false; ; retry = true {
		if err := ctx.Err(); retry && err != nil {
			return Token{}, err
		}
		s, err := m.Session(ctx, key)
		if err != nil {
			return Token{}, err
		}
		if m.beforeToken != nil {
			m.beforeToken(key)
		}
		t, err := s.Token(ctx)
		if !errors.Is(err, ErrClosed) || !m.evicted(key, s) {
			return t, err
		}
		// Evicted between the lookup and the call, as often as that
		// happened (a cap that other keys keep reaching): the key is
		// still wanted, so ask for its session again.
	}
}

// evicted reports whether s is no longer key's session in the table: it
// was retired (idle, beyond the cap), and maybe made anew since.
func (m *Manager) evicted(key string, s *Session) bool {
	h := m.hash(key)
	_, sl := m.shardOf(h).find(h, key)
	return sl == nil || sl.s.Load() != s
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
		h := m.hash(key)
		sh := m.shardOf(h)
		var e *entry
		var s *Session
		now := m.clock.Now().UnixNano()
		if t, sl := sh.find(h, key); sl != nil {
			if e = sl.e.Load(); e == deletedEntry {
				e = nil // deleted since find
			} else {
				s = sl.s.Load()
				sh.touch(t, sl, now)
			}
		}
		if e == nil {
			e = &entry{key: key, ready: make(chan struct{})}
			if old, loaded := sh.loadOrStore(h, e, now); loaded {
				e = old
			} else {
				return m.create(ctx, h, e)
			}
		}
		if s != nil {
			return s, nil
		}
		s, err := m.await(ctx, e)
		if err != nil && isContextErr(err) && ctx.Err() == nil {
			// Another caller's context ended the creation; ours has not.
			// Its failed entry may still be in the table: take it out, try
			// again.
			sh.compareAndDelete(h, e)
			continue
		}
		return s, err
	}
}

// create makes the session of e (with hash h), which this caller stored,
// and evicts beyond the cap.
func (m *Manager) create(ctx context.Context, h uint64, e *entry) (*Session, error) {
	var s *Session
	err := m.awaitShutdown(ctx, e.key)
	if err == nil {
		s, err = m.factory(ctx, e.key)
		if err == nil && s == nil {
			err = errors.New("session: manager factory returned no session")
		}
	}
	e.s, e.err = s, err
	if err == nil {
		m.install(h, e, s)
	}
	close(e.ready)
	if err != nil {
		m.shardOf(h).compareAndDelete(h, e)
		return nil, err
	}
	if n := m.n.Add(1); m.max > 0 && n > int64(m.max) {
		m.evictLRU(e)
	}
	return s, nil
}

// install makes s the session of e (with hash h) in the key table. When
// both s and the manager run on the real clock, Token serves s's tokens
// from the table: s keeps its snapshot there (Session.mirror), under its
// lock, which the table's lock nests in. A session that already keeps one
// elsewhere (a factory that returns one session for two keys, or a
// session of another manager) is left to Session.Token.
func (m *Manager) install(h uint64, e *entry, s *Session) {
	sh := m.shardOf(h)
	if !s.cfg.realClock || !isRealClock(m.clock) {
		sh.setSession(h, e, s, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mirror != nil {
		sh.setSession(h, e, s, nil)
		return
	}
	s.mirror = func(p *snapshot) { sh.mirror(h, e, p) }
	sh.setSession(h, e, s, s.snap.Load())
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
