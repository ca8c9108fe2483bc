package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// ErrNotRevoked is matched (with errors.Is) by the *LogoutError of a
// logout that could not revoke every token at the authorization server.
var ErrNotRevoked = errors.New("session: not revoked at the authorization server")

// LogoutError says what a logout could not do. It names tokens by
// fingerprint, never by their secrets; errors.Is and errors.As see each
// failure's error through it (an *EndpointError, ErrNoRevocationEndpoint,
// a context's error, the store's). It matches ErrNotRevoked when a token
// was not revoked.
type LogoutError struct {
	// NotRevoked lists the tokens the authorization server did not revoke,
	// the refresh token first.
	NotRevoked []RevocationFailure
	// Store is the failure to remove the pair from the session's store or
	// its family's coordinator; nil when it was removed.
	Store error
}

// RevocationFailure is one token a logout could not revoke.
type RevocationFailure struct {
	// Hint is the token's type: HintRefreshToken or HintAccessToken.
	Hint string
	// Token is the token's fingerprint (audit.Fingerprint).
	Token string
	// Attempts counts the revocation requests tried.
	Attempts int
	// Err is the last attempt's failure.
	Err error
}

// Error reads like "session: logout incomplete: refresh_token 1a2b3c4d not
// revoked (2 attempts): session: token endpoint https://auth.example/revoke
// answered 503 Service Unavailable".
func (e *LogoutError) Error() string {
	var parts []string
	for _, f := range e.NotRevoked {
		parts = append(parts, fmt.Sprintf("%s %s not revoked (%d attempts): %v", f.Hint, f.Token, f.Attempts, f.Err))
	}
	if e.Store != nil {
		parts = append(parts, "the pair was not removed from the store: "+e.Store.Error())
	}
	return "session: logout incomplete: " + strings.Join(parts, "; ")
}

// Unwrap returns the failures' errors.
func (e *LogoutError) Unwrap() []error {
	var errs []error
	for _, f := range e.NotRevoked {
		errs = append(errs, f.Err)
	}
	if e.Store != nil {
		errs = append(errs, e.Store)
	}
	return errs
}

// Is reports whether target is ErrNotRevoked and a token was not revoked.
func (e *LogoutError) Is(target error) bool { return target == ErrNotRevoked && len(e.NotRevoked) > 0 }

// WithRevoker sets what Logout revokes tokens with (RFC 7009); the default
// is the session's Refresher when it is a Revoker (an *oauth.Client is).
func WithRevoker(r Revoker) Option { return func(c *config) { c.revoker = r } }

// revokeAttempts bounds the revocation requests of one token in a logout.
const revokeAttempts = 3

// Logout ends the session everywhere: it stops serving the token at once
// (the session is revoked, as by Revoke, and stays so until SetToken),
// revokes the pair at the authorization server (RFC 7009: the refresh
// token with token_type_hint refresh_token, then the access token with
// access_token, each request authenticated as a token request and
// retried, paced by the session's policy, at most 3 times while the
// server fails transiently), and removes the pair from the session's
// store (WithStore, a FileStore) or its family (WithCoordinator), so that a
// restarted process does not resume it and every other process of the
// family stops serving it (they watch their family for this). With a
// family, the pair it holds is revoked too when it is not the session's
// own. ctx bounds the whole logout. It returns nil when every token was
// revoked and the pair removed; otherwise a *LogoutError that says what
// could not be done, naming tokens by fingerprint. The revocation endpoint
// is the Refresher's (oauth.Endpoint.RevocationURL, or the issuer's
// revocation_endpoint) or WithRevoker's.
func (s *Session) Logout(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := s.cfg.clock.Now()
	tok := s.tok
	s.cancelFlightLocked()
	s.last = failure{}
	fx := s.applyLocked(states.Input{Kind: states.InRevoke, Reason: states.ReasonLogout}, now, nil)
	s.dispatchLocked(fx) // the lease given up
	if !fx.Logout {
		s.unlock()
		return nil
	}
	// The pair is dropped here: nothing serves, refreshes or saves it again.
	s.tok = Token{}
	s.tokVersion++
	ver := s.tokVersion
	s.publishLocked(now)
	s.unlock()
	pairs := []Token{tok}
	if c := s.cfg.coord; c != nil {
		rctx, cancel := s.storeCtx(ctx)
		fam, err := c.Read(rctx)
		cancel()
		if err == nil && fam.Pair.Refresh != tok.Refresh {
			pairs = append(pairs, fam.Pair)
		}
	}
	le := &LogoutError{NotRevoked: s.revocation().pairs(ctx, pairs)}
	le.Store = s.removePair(ctx, ver)
	if len(le.NotRevoked) == 0 && le.Store == nil {
		return nil
	}
	return le
}

// removePair removes the session's pair from its store (saving the empty
// pair as version ver) or its family (publishing the empty pair).
func (s *Session) removePair(ctx context.Context, ver uint64) error {
	if c := s.cfg.coord; c != nil {
		rctx, cancel := s.storeCtx(ctx)
		defer cancel()
		_, err := publishPair(rctx, c, s.holder, Token{})
		return err
	}
	if s.cfg.store == nil {
		return nil
	}
	return s.save(ctx, Token{}, ver)
}

// revocation is how a logout revokes: with what, paced how.
type revocation struct {
	r          Revoker
	pol        policy.Policy
	classifier policy.Classifier
	clk        clock.Clock
	// request bounds one request; wait waits for ch or ctx's end.
	request func(ctx context.Context) (context.Context, context.CancelFunc)
	wait    func(ctx context.Context, ch <-chan struct{}) bool
	maxRA   time.Duration
}

// revocation returns how the session's Logout revokes.
func (s *Session) revocation() revocation {
	r := s.cfg.revoker
	if r == nil {
		r, _ = s.refresher.(Revoker)
	}
	return revocation{r: r, pol: s.cfg.policy, classifier: s.cfg.classifier, clk: s.cfg.clock, maxRA: s.maxRetryAfter(),
		request: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return s.cfg.requestContext(ctx, s.cfg.timeout)
		},
		wait: s.await}
}

// RevokePair revokes the refresh tokens of pairs, then their access
// tokens, with r (RFC 7009), each once, as Session.Logout does: retried
// while the server fails transiently (policy.DefaultClassifier), paced by
// policy.Default(), at most 3 times, each request bounded by
// states.DefaultRequestTimeout, all within ctx. It returns nil when every token
// was revoked, else a *LogoutError listing the others (its Store nil):
// what `authfsm logout` does for a pair it read from a store.
func RevokePair(ctx context.Context, r Revoker, pairs ...Token) error {
	rv := revocation{r: r, classifier: policy.DefaultClassifier, clk: clock.New(), maxRA: states.DefaultMaxRetryAfter,
		request: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, states.DefaultRequestTimeout)
		},
		wait: func(ctx context.Context, ch <-chan struct{}) bool {
			select {
			case <-ch:
				return true
			case <-ctx.Done():
				return false
			}
		}}
	if failed := rv.pairs(ctx, pairs); len(failed) > 0 {
		return &LogoutError{NotRevoked: failed}
	}
	return nil
}

// pairs revokes the refresh and access tokens of pairs, each once, and
// returns what it could not revoke.
func (rv revocation) pairs(ctx context.Context, pairs []Token) []RevocationFailure {
	var out []RevocationFailure
	seen := map[Secret]bool{"": true}
	for _, hint := range []string{HintRefreshToken, HintAccessToken} {
		for _, p := range pairs {
			t := p.Refresh
			if hint == HintAccessToken {
				t = p.Access
			}
			if seen[t] {
				continue
			}
			seen[t] = true
			f := RevocationFailure{Hint: hint, Token: audit.Fingerprint(string(t))}
			if rv.r == nil {
				f.Err = fmt.Errorf("%w: the session's Refresher cannot revoke; give WithRevoker", ErrNoRevocationEndpoint)
				out = append(out, f)
				continue
			}
			if f.Attempts, f.Err = rv.one(ctx, t, hint); f.Err != nil {
				out = append(out, f)
			}
		}
	}
	return out
}

// one revokes token, retrying what the classifier calls transient, paced
// by the policy (Retry-After honoured up to maxRA), at most revokeAttempts
// times within ctx. It returns the attempts made and the last failure.
func (rv revocation) one(ctx context.Context, token Secret, hint string) (int, error) {
	pol := rv.pol
	if pol == nil {
		pol = policy.Default()
	}
	start := rv.clk.Now()
	var prev time.Duration
	for n := 1; ; n++ {
		rctx, cancel := rv.request(ctx)
		err := rv.r.Revoke(rctx, token, hint)
		cancel()
		if err == nil || ctx.Err() != nil || n == revokeAttempts {
			return n, err
		}
		var ee *EndpointError
		if !errors.As(err, &ee) {
			return n, err
		}
		v := rv.classifier.Classify(ee.Outcome())
		if v.Class != policy.Transient && v.Class != policy.RateLimited || ee.Code == "unsupported_token_type" {
			return n, err // unsupported_token_type, invalid_client: asking again changes nothing
		}
		d, again := pol.Delay(policy.Attempt{N: n, Elapsed: rv.clk.Now().Sub(start), Prev: prev, Rand: uint64(n)})
		if !again {
			return n, err
		}
		prev = max(d, min(v.RetryAfter, rv.maxRA))
		done := make(chan struct{})
		t := rv.clk.AfterFunc(prev, func() { close(done) })
		if !rv.wait(ctx, done) {
			t.Stop()
			return n, err
		}
	}
}

// maxRetryAfter is the bound on a server's Retry-After.
func (s *Session) maxRetryAfter() time.Duration {
	if s.cfg.maxRetryAfter > 0 {
		return s.cfg.maxRetryAfter
	}
	return states.DefaultMaxRetryAfter
}

// PublishPair makes pair the family's next generation, whatever generation
// the family holds now: a login made outside any session (`authfsm login
// --profile NAME`), which every process of the family that waits for a
// pair adopts (one that needs a login, one the server revoked, one without
// a token yet). The zero Token removes the family's pair: a logout
// (`authfsm logout`), which every process that holds the pair takes in —
// it stops serving it — and after which a restarted process finds no pair
// to resume. It returns the new generation. A publish that loses its
// compare-and-swap to another is tried again, at most 5 times.
func PublishPair(ctx context.Context, c Coordinator, pair Token) (uint64, error) {
	return publishPair(ctx, c, newHolder(), pair)
}

func publishPair(ctx context.Context, c Coordinator, holder string, pair Token) (uint64, error) {
	var err error
	for range 5 {
		var fam Family
		if fam, err = c.Read(ctx); err != nil {
			return 0, err
		}
		var gen uint64
		gen, err = c.Publish(ctx, holder, fam.Generation, pair)
		if !errors.Is(err, ErrGenerationMoved) {
			return gen, err
		}
	}
	return 0, err
}
