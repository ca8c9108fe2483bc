package session

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session/internal/redact"
	"github.com/authfsm/authfsm/states"
)

// The way back: a session given a login method (WithLogin) that has
// nothing it may refresh with — it never had a token, the authorization
// server refused its grant for good, or its family was logged out — is not
// revoked: its machine says that it needs a login (states.NeedsLogin). With
// a login of its own the next demand (a Token call, a request through the
// Transport) runs the login (states.LoggingIn), whose pair the session
// installs, saves to its store or publishes to its family; with a login
// made elsewhere (login.Elsewhere) the session waits for a pair from
// outside: SetToken, or one another process of its family publishes
// (`authfsm login`, PublishPair).

// A Login obtains a new token pair interactively: the device flow, the
// browser flow (login.DeviceFlow, login.BrowserFlow), or any way the
// application has. Login should honour ctx, which a session cancels when the login is
// no longer needed (SetToken, a pair adopted from the family, Revoke,
// Close). The Token it returns needs an access token and its expiry, as
// SetToken's does.
type Login interface {
	Login(ctx context.Context) (Token, error)
}

// LoginFunc adapts a function to the Login interface.
type LoginFunc func(ctx context.Context) (Token, error)

// Login calls f(ctx).
func (f LoginFunc) Login(ctx context.Context) (Token, error) { return f(ctx) }

// WithLogin gives the session a way back: when it has nothing it may
// refresh with (no token yet, a final refusal of its grant, a logout of
// its family by another process), it needs a login instead of being
// revoked, and the next demand runs l — Token waits for it, as for a
// refresh, until the caller's context ends. A login that fails is not
// retried by itself: its error (a *LoginRequiredError wrapping the
// login's, a *login.Error for login.DeviceFlow and login.BrowserFlow) goes to the
// callers that waited, and the next demand runs l again. SetToken, or a
// pair another process of the family publishes, ends the wait and
// abandons a login under way. The default is no login: a final refusal
// revokes the session (ErrRevoked), and a session without a token waits
// for one (ErrNoRefreshToken).
//
// A login that happens outside the session — another process of its
// family logs in and publishes the pair (`authfsm login --profile NAME`,
// PublishPair), or the application calls SetToken — is a Login with a
// method Elsewhere() string that says how, in the errors of the wait ("run
// authfsm login --profile api"): login.Elsewhere(hint). The session never
// runs it. When it has nothing it may refresh with it needs a login
// (states.NeedsLogin) instead of being revoked: it serves nothing, sends
// nothing, and Token fails with a *LoginRequiredError (errors.Is
// ErrLoginRequired) carrying that hint, or waits for the pair when the
// caller may wait (WithFailFast false, ContextWithWait).
func WithLogin(l Login) Option {
	return func(c *config) {
		c.login, c.loginHint, c.loginElsewhere = l, "", false
		if e, ok := l.(interface{ Elsewhere() string }); ok {
			c.login, c.loginHint, c.loginElsewhere = nil, e.Elsewhere(), true
		}
	}
}

// loginMode is the machine's Config.Login for the session's options.
func (c *config) loginMode() states.LoginMode {
	switch {
	case c.login != nil:
		return states.LoginOwn
	case c.loginElsewhere:
		return states.LoginOutside
	}
	return states.LoginNone
}

// ErrLoginRequired is matched (with errors.Is) by the *LoginRequiredError
// that Token returns while a session with a login method (WithLogin,
// WithLoginElsewhere) needs a login.
var ErrLoginRequired = errors.New("session: login required")

// LoginRequiredError says that a session needs a login, and why. It
// matches ErrLoginRequired, and unwraps to the last login's error.
type LoginRequiredError struct {
	// Cause is why the session has nothing it may refresh with: the
	// server's refusal ("400 invalid_grant"), "no token yet: …", "logged
	// out by another process: …", or "login failed: …".
	Cause string
	// Reason is Cause as a typed value (states.ReasonRefused,
	// states.ReasonNoTokenYet, states.ReasonLoggedOut,
	// states.ReasonLoginFailed, …).
	Reason states.Reason
	// Hint says how to log in: login.Elsewhere's hint; empty with
	// a login of the session's own, whose next demand logs in.
	Hint string
	// Err is the last login's error, when the last login failed.
	Err error
	// At is when the error was returned.
	At time.Time
}

// Error reads like "session: login required: 400 invalid_grant; run
// authfsm login --profile api" or "session: login required: login failed:
// session: device login: access denied (access_denied)".
func (e *LoginRequiredError) Error() string {
	var b strings.Builder
	b.WriteString("session: login required: ")
	b.WriteString(e.Cause)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Is reports whether target is ErrLoginRequired.
func (e *LoginRequiredError) Is(target error) bool { return target == ErrLoginRequired }

// Unwrap returns Err.
func (e *LoginRequiredError) Unwrap() error { return e.Err }

// loginRequiredLocked explains why the session needs a login.
func (s *Session) loginRequiredLocked(now time.Time) *LoginRequiredError {
	e := &LoginRequiredError{Cause: s.data.Cause(), Reason: s.data.Reason(), Hint: s.cfg.loginHint, At: now}
	if s.data.LoginFailed() {
		e.Err = s.loginErr
	}
	return e
}

// loginStep runs the session's own login (states.Effects.Login) and
// returns its end as the machine's next input, with the pair it obtained.
func (s *Session) loginStep(ctx context.Context, fx states.Effects) (states.Input, *Token) {
	tok, err := s.cfg.login.Login(ctx)
	now := s.cfg.clock.Now()
	if err == nil && (tok.Access == "" || tok.Expiry.IsZero()) {
		err = errors.New("session: the login returned no access token or no expiry")
	}
	if err != nil {
		s.mu.Lock()
		s.loginErr = err
		s.mu.Unlock()
		detail := redact.Text(redact.NewScrubber(tok.Access.Reveal(), tok.Refresh.Reveal()), err.Error(), maxCause)
		return states.Input{Kind: states.InLoginFailed, Flight: fx.Flight, Detail: detail}, nil
	}
	if tok.Issued.IsZero() {
		tok.Issued = now
	}
	s.mu.Lock()
	s.loginErr = nil
	s.mu.Unlock()
	return states.Input{Kind: states.InLoggedIn, Flight: fx.Flight, Issued: tok.Issued, Expiry: tok.Expiry,
		NoRefresh: tok.Refresh == ""}, &tok
}
