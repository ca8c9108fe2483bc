package tokenserver

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
)

// Request is one token request as the server saw it.
type Request struct {
	// At is when the request arrived.
	At time.Time
	// Grant is the grant_type of the request.
	Grant string
	// KeyID is the kid of the request's client_assertion (unverified), if
	// it carried one.
	KeyID string
	// Status is the HTTP status fosite answered (0 for a hung request);
	// with a Delay fault the client may never have received it.
	Status int
	// Code is the OAuth2 error code of an error answer.
	Code string
	// Fault is the fault applied to the request.
	Fault FaultKind
}

// Counts are the server-side counters.
type Counts struct {
	// TokenRequests counts requests that reached the token endpoint.
	TokenRequests int
	// Grants counts token requests by grant_type.
	Grants map[string]int
	// Rotations counts refresh grants answered with a new pair.
	Rotations int
	// Reuse counts refresh requests presenting an inactive refresh token
	// (rotated away, or revoked with its family) outside the reuse grace;
	// fosite treats each as reuse and revokes the family.
	Reuse int
	// FamilyRevocations counts the revocations of a whole token family
	// that reuse detection performed.
	FamilyRevocations int
	// GracedReuse counts rotated refresh tokens accepted again inside the
	// reuse grace (Config.ReuseGrace).
	GracedReuse int
	// ResourceOK and ResourceRejected count protected resource calls
	// answered 200 and 401.
	ResourceOK, ResourceRejected int
	// MetadataServed counts metadata documents served (see SetIssuer);
	// NotFound counts requests for any other path but the token endpoint.
	MetadataServed, NotFound int
}

type stats struct {
	mu                      sync.Mutex
	requests                []Request
	resourceOK, resource401 int
	metadataServed          int
	notFound                int
	revocations             []Revocation
}

// Counts returns a snapshot of the counters.
func (s *Server) Counts() Counts {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	reuse, graced, revocations := s.store.counts()
	c := Counts{
		TokenRequests:     len(s.stats.requests),
		Grants:            map[string]int{},
		Reuse:             reuse,
		FamilyRevocations: revocations,
		GracedReuse:       graced,
		ResourceOK:        s.stats.resourceOK,
		ResourceRejected:  s.stats.resource401,
		MetadataServed:    s.stats.metadataServed,
		NotFound:          s.stats.notFound,
	}
	for _, r := range s.stats.requests {
		c.Grants[r.Grant]++
		if r.Grant == "refresh_token" && r.Status == http.StatusOK {
			c.Rotations++
		}
	}
	return c
}

// Requests returns the log of token requests, oldest first.
func (s *Server) Requests() []Request {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return append([]Request(nil), s.stats.requests...)
}

func (s *Server) logRequest(r Request) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	s.stats.requests = append(s.stats.requests, r)
}

// serveToken is the token endpoint. fosite writes its answer into a
// recorder first so that a Delay fault can hold an answer whose effects
// (the rotation) have already happened.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
	at := time.Now()
	_ = r.ParseForm() // fosite parses again; errors surface there
	grant := r.PostForm.Get("grant_type")
	kid := assertionKeyID(r.PostForm.Get("client_assertion"))
	f := s.takeFault()
	if f.Kind == Hang {
		s.logRequest(Request{At: at, Grant: grant, KeyID: kid, Fault: Hang})
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return
	}

	rec := httptest.NewRecorder()
	s.fositeMu.Lock()
	s.fositeToken(rec, r)
	s.fositeMu.Unlock()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	s.logRequest(Request{At: at, Grant: grant, KeyID: kid, Status: rec.Code, Code: body.Error, Fault: f.Kind})

	if f.Kind == Delay {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the proxy gave up: the answer is lost
		case <-stop:
			return
		}
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (s *Server) fositeToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAccessRequest(ctx, r, new(fosite.DefaultSession))
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	// The refresh handler re-grants the original scopes itself; for the
	// other grants the requested scopes (already checked against the
	// client's) are granted as asked.
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// serveResource is the protected resource: 200 for a live access token,
// 401 invalid_token (RFC 6750) for a missing, expired or revoked one.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := "", len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ")
	if ok {
		tok = auth[7:]
		_, _, err := s.provider.IntrospectToken(r.Context(), tok, fosite.AccessToken, new(fosite.DefaultSession))
		ok = err == nil
	}
	s.stats.mu.Lock()
	if ok {
		s.stats.resourceOK++
	} else {
		s.stats.resource401++
	}
	s.stats.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_token"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// AccessTokenExpiry returns when the server lets the access token expire
// (fosite's session expiry), or an error for a token it does not know or
// no longer accepts.
func (s *Server) AccessTokenExpiry(ctx context.Context, access string) (time.Time, error) {
	_, ar, err := s.provider.IntrospectToken(ctx, access, fosite.AccessToken, new(fosite.DefaultSession))
	if err != nil {
		return time.Time{}, err
	}
	return ar.GetSession().GetExpiresAt(fosite.AccessToken), nil
}
