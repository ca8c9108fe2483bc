package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// A Refresher obtains a new token pair. Refresh must be safe for concurrent
// use and should honour ctx, which carries the session's per-attempt
// deadline. The returned Token must carry its Expiry: with Issued set,
// Expiry−Issued is the lifetime, measured from when the session receives the
// token (so the refresher's clock does not matter); with Issued zero, Expiry
// is an instant on the session's clock. A failure should be an
// *EndpointError (so it is classified by status and OAuth2 error code); any
// other error is classified as a transient failure without a response.
type Refresher interface {
	Refresh(ctx context.Context, cur Token) (Token, error)
}

// RefresherFunc adapts a function to the Refresher interface.
type RefresherFunc func(ctx context.Context, cur Token) (Token, error)

// Refresh calls f(ctx, cur).
func (f RefresherFunc) Refresh(ctx context.Context, cur Token) (Token, error) { return f(ctx, cur) }

// Session keeps one OAuth2 session alive: it serves the current access
// token, refreshes it ahead of expiry or on demand with at most one request
// in flight, retries transient failures on its policy's schedule, and
// records every state change. Every decision is made by a states.Machine;
// the Session only performs the effects (the request, one timer, the audit
// records), exactly as the simulator does with the same machine.
//
// A Session is safe for concurrent use. Close it to stop its timer and its
// refresh goroutine.
type Session struct {
	cfg       config
	machine   *states.Machine
	refresher Refresher

	// snap is what Token's fast path reads: the current access token and
	// the instant until which it may be served.
	snap atomic.Pointer[snapshot]
	// mirror, set by a Manager under mu, is told each snapshot snap takes
	// (under mu), so that the Manager's lookup need not read snap.
	mirror func(*snapshot)

	mu         sync.Mutex
	data       states.Data
	tok        Token
	tokVersion uint64
	last       failure
	seq        uint64
	timer      *clock.Timer
	timerAt    time.Time
	timerGen   uint64
	changed    chan struct{} // closed and replaced on every transition
	closed     bool
	cancel     context.CancelFunc // of the refresh in flight

	out outbox
	st  storeState

	// loginErr is the last failure of the session's own login (WithLogin).
	loginErr error

	// With a Coordinator: this session's lease-holder id, and the watch of
	// the family (states.Effects.Watch; watchLease: it reports the lease's
	// release too, states.Effects.WatchLease).
	holder      string
	watchCancel context.CancelFunc
	watchLease  bool

	// life bounds every operation on the store: Shutdown ends it at its
	// deadline.
	life    context.Context
	endLife context.CancelFunc

	wg sync.WaitGroup
}

type snapshot struct {
	tok   Token
	until time.Time
	// probation: the token must still prove itself (states.Data.Probation);
	// the Transport reports its acceptance.
	probation bool
	// state is the machine's state after the step that published this.
	state states.State
}

// failure is the last failed attempt, for RefreshError.
type failure struct {
	err           error
	endpoint      *EndpointError
	retryAfter    time.Duration
	misconfigured bool
}

// New returns a session that refreshes with r, starting from initial (the
// zero Token for none: the session then loads one from its store, if any,
// or refreshes on the first demand). ctx bounds only the store's Load,
// which waits no longer than the request timeout either.
//
// A *FileStore given to WithStore is shared safely with the other processes
// of the host that use its Path: the session runs the token family's
// protocol through a FileCoordinator on that Path (see FileStore).
func New(ctx context.Context, r Refresher, initial Token, opts ...Option) (*Session, error) {
	if r == nil {
		return nil, errors.New("session: New needs a Refresher")
	}
	cfg := config{classifier: policy.DefaultClassifier, timeout: states.DefaultRequestTimeout, failFast: true,
		refreshAhead: states.DefaultRefreshAhead, lease: states.DefaultLease}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = clock.New()
	}
	cfg.realClock = isRealClock(cfg.clock)
	cfg.driver, _ = cfg.clock.(DrivingClock)
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("session: request timeout %v is not positive", cfg.timeout)
	}
	if cfg.lease <= 0 {
		return nil, fmt.Errorf("session: lease %v is not positive", cfg.lease)
	}
	if cfg.refreshAhead < 0 {
		return nil, fmt.Errorf("session: refresh-ahead margin %v is negative", cfg.refreshAhead)
	}
	if !cfg.seeded {
		cfg.seed = rand.Uint64()
	}
	if cfg.store != nil && cfg.coord != nil {
		return nil, errors.New("session: WithStore and WithCoordinator exclude each other: the coordinator keeps the family's pair")
	}
	if fs, ok := cfg.store.(*FileStore); ok && fs != nil {
		if c := fs.coordinator(); c != nil {
			cfg.store, cfg.coord = nil, c // safe across the host's processes
		}
	}
	own := initial.Access != "" || initial.Refresh != ""
	var gen uint64
	if !own && (cfg.store != nil || cfg.coord != nil) {
		var cancel context.CancelFunc
		ctx, cancel = cfg.requestContext(ctx, cfg.timeout)
		defer cancel()
	}
	if !own && cfg.store != nil {
		t, err := cfg.store.Load(ctx)
		switch {
		case err == nil:
			initial = t
		case !errors.Is(err, ErrNoToken):
			return nil, err
		}
	}
	if !own && cfg.coord != nil {
		fam, err := cfg.coord.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("session: reading the token family: %w", err)
		}
		initial, gen = fam.Pair, fam.Generation
	}
	s := &Session{
		cfg:       cfg,
		refresher: r,
		machine: states.NewMachine(states.Config{Policy: cfg.policy, RefreshAhead: cfg.refreshAhead, MaxRetryAfter: cfg.maxRetryAfter,
			ReuseGrace: cfg.reuseGrace, Fallback: cfg.fallback != nil, SoloWhenStoreDown: cfg.solo,
			Coordinated: cfg.coord != nil, Shared: cfg.store != nil || cfg.coord != nil,
			Lease: states.LeaseTTL(cfg.lease, cfg.timeout), FallbackSameClient: cfg.fallback != nil && sameClient(r, cfg.fallback),
			Login: cfg.loginMode()}),
		changed: make(chan struct{}),
		tok:     initial,
		holder:  newHolder(),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.st.gate = make(chan struct{}, 1)
	now := cfg.clock.Now()
	expiry := initial.Expiry
	if initial.Access == "" {
		expiry = time.Time{}
	}
	if initial.Issued.IsZero() {
		s.tok.Issued = now
	}
	start := []states.DataOption{states.StartGeneration(gen)}
	if own && cfg.coord != nil {
		start = append(start, states.StartWithOwnPair())
	}
	if initial.Refresh == "" {
		start = append(start, states.StartWithoutRefresh())
	}
	s.data = states.NewData(cfg.seed, s.tok.Issued, expiry, start...)
	s.mu.Lock()
	s.publishLocked(now)
	// Opened comes first, with the state the session starts in, so that a
	// hook counting sessions per state sees every transition after it.
	if h := cfg.hooks.Opened; h != nil {
		info := s.infoLocked()
		s.lifeHook(func() { h(info) })
	}
	s.stepLocked(states.Input{Kind: states.InWake}, now, nil) // an expired token starts a refresh now
	s.unlock()
	return s, nil
}

// Token returns a usable access token. While the current one is valid this
// is one atomic load and one clock read, without lock or allocation. Otherwise
// Token joins the refresh in flight (starting one if none is) and waits until
// it ends or ctx ends; cancelling ctx never cancels the shared refresh. In
// backoff it fails fast with a *RefreshError or waits for the next attempt,
// as WithFailFast and ContextWithWait say. A revoked session returns a
// *RevokedError (errors.Is ErrRevoked). The returned Token carries no
// refresh token.
func (s *Session) Token(ctx context.Context) (Token, error) {
	if p := s.snap.Load(); s.cfg.clock.Now().Before(p.until) {
		return p.tok, nil
	}
	return s.tokenSlow(ctx)
}

func (s *Session) tokenSlow(ctx context.Context) (Token, error) {
	failFast := s.cfg.failFastFor(ctx)
	waited := false
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Token{}, ErrClosed
		}
		now := s.cfg.clock.Now()
		// A caller that waited through a cycle the policy gave up on, or
		// through a login that failed, gets the error; demanding again
		// would start cycles (or logins) back to back.
		gaveUp := waited && s.data.GaveUp()
		loginFailed := waited && s.data.LoginFailed()
		if !gaveUp && !loginFailed {
			s.stepLocked(states.Input{Kind: states.InDemand}, now, nil)
		}
		d := &s.data
		switch {
		case d.Usable(now):
			t := s.snap.Load().tok
			s.unlock()
			return t, nil
		case d.State() == states.Revoked:
			err := s.revokedErrorLocked(now)
			s.unlock()
			return Token{}, err
		case loginFailed, d.State() == states.NeedsLogin && failFast:
			// A login from outside (login.Elsewhere) is waited for only
			// by a caller that may wait; WithLogin's next demand logs in.
			err := s.loginRequiredLocked(now)
			s.unlock()
			return Token{}, err
		case gaveUp, d.State() == states.Backoff && failFast, d.AwaitsPair() && failFast:
			// With nothing to refresh with, the session waits for a pair
			// from outside (SetToken, or its family's first pair); a caller
			// that may wait waits for it too.
			err := s.refreshErrorLocked(now)
			s.unlock()
			return Token{}, err
		}
		ch := s.changed
		s.unlock()
		waited = true
		if !s.await(ctx, ch) {
			return Token{}, s.waitError(ctx)
		}
	}
}

// Reject tells the session that a resource server refused access (a 401):
// if access is still the current token, it is no longer served and a
// refresh starts. Rejecting an older token does nothing, so many requests
// failing with one token cause one refresh. A token that a rejection's
// refresh delivered moments ago and that is rejected too counts as a failed
// attempt: the retry policy paces the next refresh, so an API that refuses
// every token cannot cause a storm of token requests.
func (s *Session) Reject(access Secret) {
	s.reject(access, nil)
}

// reject is Reject with what the Transport saw of the rejection (nil when
// unknown). When the rejection failed the attempt that delivered the token
// (the token was on probation), it returns the error that says so.
func (s *Session) reject(access Secret, r *RejectedError) *RejectedError {
	s.mu.Lock()
	defer s.unlock()
	if s.closed || access == "" || access != s.tok.Access {
		return nil
	}
	was := s.data.State()
	now := s.cfg.clock.Now()
	var cause string
	if r != nil {
		cause = r.cause()
	}
	s.stepLocked(states.Input{Kind: states.InReject, Detail: cause}, now, nil)
	if was != states.Valid || (s.data.State() != states.Backoff && s.data.State() != states.Expired) {
		return nil
	}
	// The rejection failed the attempt that delivered the token.
	e := RejectedError{At: now, NextAt: s.data.NextAt()}
	if r != nil {
		e.URL, e.Status, e.Challenge = r.URL, r.Status, r.Challenge
	}
	s.last = failure{err: &e}
	return &e
}

// accept tells the session that a resource server accepted access, which
// ends the probation of a token that a rejection's refresh delivered.
func (s *Session) accept(access Secret) {
	s.mu.Lock()
	defer s.unlock()
	if !s.closed && access == s.tok.Access {
		s.stepLocked(states.Input{Kind: states.InAccept}, s.cfg.clock.Now(), nil)
	}
}

// Revoke revokes the session locally (a detected compromise): the token is
// no longer served, a refresh in flight (or a login under way) is
// abandoned, and Token returns ErrRevoked until SetToken. It tells nobody
// else: the authorization server still honours the pair, the store keeps
// it and a restarted process resumes it. Logout ends the session
// everywhere.
func (s *Session) Revoke() {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return
	}
	s.cancelFlightLocked()
	s.last = failure{} // the cause is the application, not an answer
	s.stepLocked(states.Input{Kind: states.InRevoke}, s.cfg.clock.Now(), nil)
}

// SetToken replaces the token pair (a re-login) in any state, abandons a
// refresh in flight, and saves the pair to the store. t needs an access
// token and its expiry; a zero Issued means now. A failed save is returned
// and retried in the background (see Status.StoreError).
func (s *Session) SetToken(ctx context.Context, t Token) error {
	if t.Access == "" || t.Expiry.IsZero() {
		return errors.New("session: SetToken needs an access token and its expiry")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := s.cfg.clock.Now()
	if t.Issued.IsZero() {
		t.Issued = now
	}
	s.cancelFlightLocked()
	s.last = failure{}
	fx := s.applyLocked(states.Input{Kind: states.InSetToken, Issued: t.Issued, Expiry: t.Expiry, NoRefresh: t.Refresh == ""}, now, &t)
	tok, ver := s.tok, s.tokVersion
	s.unlock()
	if s.cfg.coord == nil {
		s.mu.Lock()
		fx.Save = false // saved below, its error returned
		s.dispatchLocked(fx)
		s.unlock()
		if err := s.save(ctx, tok, ver); err != nil {
			return s.saveError(tok, err)
		}
		return nil
	}
	// A re-login starts the family's next generation, whatever the store
	// holds now: the machine asks for it to be read and the pair published,
	// which happens here, within ctx; what follows goes on in the
	// background.
	if err := s.perform(ctx, fx, true); err != nil {
		return s.saveError(tok, err)
	}
	return nil
}

// Shutdown stops the session without losing a rotated refresh token: it
// stops the timer, makes Token return ErrClosed, lets a refresh in flight
// finish within its request timeout (its answer may carry the only copy of
// a rotated refresh token), saves the newest pair to the store, delivers
// the remaining audit records, hook calls and log lines, and returns. It
// returns by ctx's deadline: when ctx ends first, the refresh is
// abandoned, every wait for the store or its lock ends, the save gets one
// attempt that waits for nothing, and Shutdown returns ctx's error; so it
// does when a hook or the audit sink still blocks the delivery, which that
// hook's goroutine then completes. When the newest pair is not in the
// store it returns a *SaveError that names it (by fingerprint). Later calls wait
// for the first one and return nil.
func (s *Session) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	if first {
		s.closed = true
		if s.data.State() == states.LoggingIn {
			s.cancelFlightLocked() // a login waits for a user, not for Shutdown
		}
		s.cancelWatchLocked()
		s.stopTimerLocked()
		s.storeSnapLocked(&snapshot{state: s.data.State()})
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.unlock()
	if first {
		// At the deadline every wait for the store ends, the last save's
		// included.
		defer context.AfterFunc(ctx, s.endLife)()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelFlightLocked()
		s.mu.Unlock()
		s.endLife()
		select {
		case <-done:
			err = fmt.Errorf("session: shutdown abandoned the refresh in flight: %w", ctx.Err())
		default:
			// Its Refresher, or a hook or sink it called, ignores its
			// context: Shutdown keeps its deadline all the same.
			err = fmt.Errorf("session: shutdown abandoned the refresh in flight, which did not end when cancelled: %w", ctx.Err())
		}
	}
	if first {
		err = errors.Join(err, s.flushStore(ctx))
		s.endLife()
		if h := s.cfg.hooks.Closed; h != nil {
			s.mu.Lock()
			info := s.infoLocked()
			s.mu.Unlock()
			s.lifeHook(func() { h(info) })
		}
	}
	derr := s.drain(ctx, true)
	if !first {
		return nil
	}
	return errors.Join(err, derr)
}

// Close is Shutdown without a deadline of its own: a refresh in flight
// still ends within its request timeout (WithRequestTimeout). It is safe
// to call more than once.
func (s *Session) Close() error {
	return s.Shutdown(context.Background())
}

// infoLocked describes the session for Hooks.Opened and Hooks.Closed.
func (s *Session) infoLocked() hooks.SessionInfo {
	return hooks.SessionInfo{Session: s.cfg.id, State: s.data.State(), Expiry: s.data.Expiry()}
}
