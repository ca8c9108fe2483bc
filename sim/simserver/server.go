// Package simserver is the simulator's model of the token server and the
// resource server, behind net/http: an http.Handler driven by a
// clock.Clock that answers as the scenario's server would, faults and all,
// so that real client code (a session.Session, or your own) can be run
// against a scenario file. authfsm conform uses it to run a scenario
// through the runtime and compare the transitions with the simulator's.
//
//	sc, _ := sim.Load("testdata/scenarios/502-at-refresh.yaml")
//	mock := clock.NewMock()
//	srv, _ := simserver.New(sc, mock)
//	ts := httptest.NewServer(srv) // token endpoint ts.URL+simserver.TokenPath
//	pair, _ := srv.Login(0)       // the pair session 0 starts with
//	…                             // refresh with pair.Refresh, call ts.URL+simserver.ResourcePath
//
// Time is the clock's: the handler reads it to know which faults are in
// effect (virtual time is the clock's reading minus its reading when New
// was called) and waits on it for the server's latency. The clock is the
// server's own: a client whose clock runs ahead by the scenario's
// clock_skew sees the same tokens as the simulator's client. With a
// clock.Mock, move it forward while a request waits for its latency.
//
// What each fault does at the HTTP level:
//   - status, html200, malformed, lost_response, revoke: the answer
//     docs/SCENARIOS.md describes, after the server's latency;
//   - hang: no answer until the request's context ends;
//   - refused: through Transport, a connection-refused error before the
//     request is written; through a real listener, the connection is
//     closed without an answer (a handler cannot refuse a connection);
//   - crash_holder: the request is performed and answered at once with 502
//     and the CrashHeader, naming the restart delay: a harness that runs
//     processes (authfsm conform) crashes the client's process then;
//   - reject_access: the resource server answers 401 with a Bearer
//     challenge whose error_description says why;
//   - store_down concerns the processes' shared store, not this server.
//
// A fleet's capacity (server_capacity) applies to the token endpoint: the
// requests beyond it within one second of virtual time get 503.
package simserver

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/sim"
)

// The paths the Server answers.
const (
	// TokenPath is the token endpoint: POST, form-encoded, grant_type
	// refresh_token (with refresh_token) or client_credentials (the
	// fallback grant, accepted from any client).
	TokenPath = "/token"
	// ResourcePath is the resource server: any method, with
	// "Authorization: Bearer <access token>"; it answers 200 or 401.
	ResourcePath = "/resource"
)

// CrashHeader marks the answer to a request sent within a crash_holder
// window: the client's process crashes right after sending it. Its value
// is the restart delay, a Go duration string.
const CrashHeader = "Authfsm-Crash"

// Server is the scenario's token server and resource server. It is safe
// for concurrent use.
type Server struct {
	sc    *sim.Scenario
	clk   clock.Clock
	start time.Time // the clock's reading at virtual time 0
	epoch time.Time // the server's wall clock at virtual time 0 (sim.Epoch)

	mu     sync.Mutex
	fams   []family
	access map[string]access
	tokens int
	// capBucket is the second of virtual time whose token requests
	// capCount counts.
	capBucket, capCount int64
	// requests counts the requests that reached the token endpoint.
	requests int64
}

// New returns the server of sc, on clk (clock.New() when nil). Its virtual
// time 0 is clk's reading now.
func New(sc *sim.Scenario, clk clock.Clock) (*Server, error) {
	if sc == nil {
		return nil, errors.New("simserver: New needs a scenario")
	}
	if clk == nil {
		clk = clock.New()
	}
	return &Server{
		sc: sc, clk: clk, start: clk.Now(), epoch: sim.Epoch(),
		fams: make([]family, sc.Families()), access: map[string]access{}, capBucket: -1,
	}, nil
}

// now returns the virtual time.
func (s *Server) now() time.Duration { return s.clk.Now().Sub(s.start) }

// Pair is a token pair the server issued.
type Pair struct {
	Access, Refresh string
	// Issued and Expiry bound the access token's life on the server's
	// clock (the JWT's iat and exp).
	Issued, Expiry time.Time
	// ExpiresIn is the lifetime the token response states (token.ttl).
	ExpiresIn time.Duration
}

// Login issues, now, the pair that session i of the scenario starts with
// (docs/SCENARIOS.md: a fresh pair issued at the session's start): a new
// access token, and the first refresh token of its family, which every
// process of the family starts with.
func (s *Server) Login(i int) (Pair, error) {
	if i < 0 || i >= s.sc.Fleet.Sessions {
		return Pair{}, errors.New("simserver: no such session in the scenario's fleet")
	}
	t := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fi := s.sc.FamilyOf(i)
	f := &s.fams[fi]
	if f.rtGen == 0 {
		f.rtGen, f.issued = 1, []time.Duration{0, t}
	}
	return Pair{Access: s.issueAccess(fi, t), Refresh: refreshToken(fi, 1),
		Issued: s.epoch.Add(t), Expiry: s.epoch.Add(t + s.sc.Token.TTL), ExpiresIn: s.sc.Token.TTL}, nil
}

// Relogin issues, now, the pair of a new login of session i's family (a
// workload item of kind login): a new grant — the family's next refresh
// token, a family that reuse detection revoked living again — and a new
// access token, as the simulator's model does.
func (s *Server) Relogin(i int) (Pair, error) {
	if i < 0 || i >= s.sc.Fleet.Sessions {
		return Pair{}, errors.New("simserver: no such session in the scenario's fleet")
	}
	t := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fi := s.sc.FamilyOf(i)
	f := &s.fams[fi]
	if f.rtGen == 0 {
		f.issued = []time.Duration{0}
	}
	f.rtGen++
	f.issued = append(f.issued, t)
	f.revoked = false
	return Pair{Access: s.issueAccess(fi, t), Refresh: refreshToken(fi, f.rtGen),
		Issued: s.epoch.Add(t), Expiry: s.epoch.Add(t + s.sc.Token.TTL), ExpiresIn: s.sc.Token.TTL}, nil
}

// Stats describes what the server saw.
type Stats struct {
	// TokenRequests counts the requests that reached the token endpoint
	// (refused connections included).
	TokenRequests int64
	// RevokedFamilies lists the families reuse detection revoked.
	RevokedFamilies []int
}

// Stats returns what the server saw so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{TokenRequests: s.requests}
	for i := range s.fams {
		if s.fams[i].revoked {
			st.RevokedFamilies = append(st.RevokedFamilies, i)
		}
	}
	return st
}

// ServeHTTP answers the token endpoint and the resource server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case TokenPath:
		s.token(w, r)
	case ResourcePath:
		s.resource(w, r)
	default:
		http.NotFound(w, r)
	}
}

// resource answers a call of the resource server at once: 200 when it
// accepts the bearer token, else 401 with a challenge that says why.
func (s *Server) resource(w http.ResponseWriter, r *http.Request) {
	tok, _ := bearer(r.Header.Get("Authorization"))
	t := s.now()
	s.mu.Lock()
	why := s.judge(tok, t)
	s.mu.Unlock()
	if why == "" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+why+`"`)
	w.WriteHeader(http.StatusUnauthorized)
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(h string) (string, bool) {
	const p = "Bearer "
	if len(h) > len(p) && (h[:len(p)] == p || h[:len(p)] == "bearer ") {
		return h[len(p):], true
	}
	return "", false
}
