package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/ops"
)

// TokenRequestHeader is the header GET /v1/token requires, with the value
// "1": a browser cannot add it to a cross-site request without a CORS
// preflight, which the agent never grants, and a server tricked into
// fetching a URL (SSRF) does not send it. Cloud metadata servers guard
// their tokens the same way (Metadata-Flavor: Google, Metadata: true).
const TokenRequestHeader = "Authfsm-Token-Request"

// TokenResponse is GET /v1/token's answer.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	// ExpiresAt is the instant until which a client may keep using the
	// token without asking again, and after which the agent no longer
	// hands it out: Handover before the session replaces it (its refresh
	// point, the next attempt while a refresh is failing) or before it
	// expires when no replacement is planned, so never after
	// TokenExpiresAt. Servers such as Ory Hydra and fosite revoke the
	// previous access token at a refresh: a client that keeps a token
	// until TokenExpiresAt instead sends a revoked one. It is already past
	// when the agent, waiting for a replacement under way, gave up and
	// served the still-valid token: use it once and ask again.
	ExpiresAt time.Time `json:"expires_at"`
	// TokenExpiresAt is the access token's own expiry, for display; a
	// client caching the token must use ExpiresAt.
	TokenExpiresAt time.Time `json:"token_expires_at,omitzero"`
	// State is the session's state when the token was served: "valid", or
	// "refreshing" or "backoff" while a still-valid token is served.
	State string `json:"state"`
}

// ErrorResponse is the agent's answer when it has no token to give (503)
// or refuses the request (4xx).
type ErrorResponse struct {
	Error string `json:"error"`
	State string `json:"state,omitempty"`
}

// apiHandler serves /v1/token, /v1/health and /metrics.
func (a *Agent) apiHandler(tcp bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/token", a.serveToken)
	mux.HandleFunc("POST /v1/token/reject", a.serveReject)
	mux.HandleFunc("GET /v1/health", a.serveHealth)
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.HandleFunc("GET /metrics", a.serveMetrics)
	return guard(tcp, mux, func(r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/token") {
			a.refused(r)
		}
	})
}

// refused counts a refused token request against the profile it names.
func (a *Agent) refused(r *http.Request) {
	if p := a.profile(query(r).Get("profile")); p != nil {
		p.n.tokenRefused.Add(1)
	} else if len(a.profiles) == 1 {
		a.profiles[0].n.tokenRefused.Add(1)
	}
}

// guard refuses what a browser or a DNS-rebinding page sends: a request
// with an Origin or Sec-Fetch-Site header (every cross-origin request a
// browser makes, and most others, carry one; the agent's clients are
// programs), and, on TCP, a Host that does not name a loopback address.
// refused, if not nil, counts the refusals.
func guard(tcp bool, next http.Handler, refused func(*http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var why string
		switch {
		case r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "":
			why = "requests made by a browser are refused"
		case tcp && !loopbackHost(r.Host):
			why = "the Host header does not name a loopback address"
		}
		if why != "" {
			if refused != nil {
				refused(r)
			}
			writeError(w, http.StatusForbidden, "authfsm agent: "+why, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RelayHeaders are the headers by which a relaying proxy (nginx, a load
// balancer, a sidecar) marks what it forwards. A request carrying one is
// refused by /v1/token and by every profile's proxy: a relay may rewrite
// Host to the agent's loopback address (nginx does, for `proxy_pass
// http://127.0.0.1:PORT`), so the Host check alone would hand the token to
// whoever reaches the relay. A relay that adds none of them cannot be told
// from a local client: the agent must not be put behind one.
var RelayHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Via"}

// relayedBy returns the first of RelayHeaders that h carries, or "". It
// compares names without regard to case, as net/http does, and allocates
// nothing (canonicalising X-Real-IP would).
func relayedBy(h http.Header) string {
	for _, k := range RelayHeaders {
		for name, vs := range h {
			if len(vs) > 0 && strings.EqualFold(name, k) {
				return k
			}
		}
	}
	return ""
}

// query returns r's query parameters; a request without a query (the
// usual GET /v1/token of a single profile) gets nil, for which Get returns
// "", without the cost of a map.
func query(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// refuseRelayed answers 403, forwarding nothing, to a request a relaying
// proxy made (see RelayHeaders) and reports whether it did. /v1/token and
// the proxies use it alike.
func refuseRelayed(w http.ResponseWriter, r *http.Request) bool {
	k := relayedBy(r.Header)
	if k == "" {
		return false
	}
	writeError(w, http.StatusForbidden, "authfsm agent: a request relayed by a proxy is refused (it carries "+k+"); call the agent from this host, not through a relay", "")
	return true
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	return loopback(host)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, state string) {
	writeJSON(w, status, ErrorResponse{Error: msg, State: state})
}

// pick returns the profile a request names (?profile=NAME), or the only
// one; otherwise it answers the request and returns nil.
func (a *Agent) pick(w http.ResponseWriter, r *http.Request) *profile {
	name := query(r).Get("profile")
	if name == "" && len(a.profiles) == 1 {
		return a.profiles[0]
	}
	if p := a.profile(name); p != nil {
		return p
	}
	names := make([]string, len(a.profiles))
	for i, p := range a.profiles {
		names[i] = p.cfg.Name
	}
	if name == "" {
		writeError(w, http.StatusBadRequest, "authfsm agent: name a profile with ?profile= (one of "+strings.Join(names, ", ")+")", "")
	} else {
		writeError(w, http.StatusNotFound, "authfsm agent: no such profile (the profiles are "+strings.Join(names, ", ")+")", "")
	}
	return nil
}

// token returns a usable token of p, waiting for a refresh at most
// wait_for_refresh (in backoff, with wait_for_refresh 0, it fails at once).
// When wait_for_refresh runs out, the error is a *WaitError. A token the
// session holds ready is returned as Token's fast path returns it, without
// making the contexts of a wait.
func (p *profile) token(ctx context.Context) (session.Token, error) {
	if tok, _, ok := p.s.Peek(); ok {
		return tok, nil
	}
	ctx = session.ContextWithWait(ctx, p.wait > 0)
	if p.wait <= 0 {
		return p.s.Token(ctx)
	}
	wctx, cancel := context.WithTimeoutCause(ctx, p.wait, errWaited)
	defer cancel()
	tok, err := p.s.Token(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errWaited) {
		return tok, &WaitError{Wait: p.wait, Err: err}
	}
	return tok, err
}

// errWaited is the cause of the end of an agent's wait for a token.
var errWaited = errors.New("agent: wait_for_refresh ran out")

// WaitError is the agent's answer (503) when wait_for_refresh ran out
// before the session had a usable token: the wait that ended was the
// agent's, not its client's. It unwraps to the session's error, which
// carries the last refresh's failure, if any (a *session.RefreshError).
type WaitError struct {
	// Wait is the profile's wait_for_refresh.
	Wait time.Duration
	// Err is the session's error.
	Err error
}

func (e *WaitError) Error() string {
	s := "agent: no usable token within wait_for_refresh (" + e.Wait.String() + ")"
	if re := (*session.RefreshError)(nil); errors.As(e.Err, &re) {
		return s + "; last refresh: " + re.Error()
	}
	return s + ": the refresh under way has not ended"
}

// Unwrap returns the session's error.
func (e *WaitError) Unwrap() error { return e.Err }

func (a *Agent) serveToken(w http.ResponseWriter, r *http.Request) {
	var why string
	switch {
	case r.Header.Get(TokenRequestHeader) != "1":
		why = "/v1/token needs the header " + TokenRequestHeader + ": 1"
	}
	if why != "" {
		a.refused(r)
		writeError(w, http.StatusForbidden, "authfsm agent: "+why, "")
		return
	}
	if refuseRelayed(w, r) {
		a.refused(r)
		return
	}
	p := a.pick(w, r)
	if p == nil {
		return
	}
	if !a.gitScope(w, r, p) {
		return
	}
	tok, err := p.serve(r.Context())
	if err != nil {
		p.n.tokenUnavailable.Add(1)
		unavailable(w, p, err)
		return
	}
	p.n.tokenServed.Add(1)
	writeJSON(w, http.StatusOK, TokenResponse{AccessToken: tok.Access.Reveal(), TokenType: tok.AuthorizationType(),
		ExpiresAt: advertised(tok).UTC(), TokenExpiresAt: tok.Expiry.UTC(), State: p.state()})
}

// state is the name of the session's state, as Token's fast path knows it
// (session.Session.Peek): no lock, no fingerprint of the token.
func (p *profile) state() string {
	_, st, _ := p.s.Peek()
	return st.String()
}

// unavailable answers 503 with the session's error and, when waiting can
// help, a Retry-After until its next attempt.
func unavailable(w http.ResponseWriter, p *profile, err error) {
	if secs, ok := retryAfter(err, time.Now()); ok {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeError(w, http.StatusServiceUnavailable, err.Error(), p.state())
}

// retryAfter returns the whole seconds, at least 1, until the next attempt
// the error announces; false when waiting cannot help (a revoked session,
// one that needs a login, one shutting down).
func retryAfter(err error, now time.Time) (int, bool) {
	var next time.Time
	var re *session.RefreshError
	switch {
	case errors.Is(err, session.ErrRevoked), errors.Is(err, session.ErrClosed), errors.Is(err, session.ErrLoginRequired):
		return 0, false
	case errors.As(err, &re):
		next = re.NextAt
	}
	d := next.Sub(now)
	if d <= time.Second {
		return 1, true
	}
	return int((d + time.Second - 1) / time.Second), true
}

func (a *Agent) serveHealth(w http.ResponseWriter, r *http.Request) {
	if query(r).Get("profile") != "" || len(a.profiles) == 1 {
		if p := a.pick(w, r); p != nil {
			ops.HealthHandler(p.s).ServeHTTP(w, r)
		}
		return
	}
	type brief struct {
		State      string `json:"state"`
		TokenValid bool   `json:"token_valid"`
	}
	all, ok := map[string]brief{}, true
	for _, p := range a.profiles {
		st := p.s.Status()
		all[p.cfg.Name] = brief{State: st.State.String(), TokenValid: st.TokenValid}
		ok = ok && st.TokenValid
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, all)
}
