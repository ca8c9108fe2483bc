package tokenserver

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"time"
)

// RevokePath is the revocation endpoint (RFC 7009), fosite's: a refresh
// token revoked there (or an access token) revokes its whole grant, the
// family's other tokens included, and a refresh with it is answered 400
// invalid_grant. Clients authenticate as at the token endpoint; the
// public CLIClientID sends its client_id.
const RevokePath = "/oauth2/revoke"

// Revocation is one revocation request as the server saw it.
type Revocation struct {
	// At is when it arrived.
	At time.Time
	// Hint is its token_type_hint.
	Hint string
	// Status is fosite's answer, and Code its OAuth2 error, if any.
	Status int
	Code   string
}

// Revocations returns the log of revocation requests, oldest first.
func (s *Server) Revocations() []Revocation {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return append([]Revocation(nil), s.stats.revocations...)
}

// revocationKey marks the context of a revocation request, so that the
// store does not count its revocation as reuse detection's.
type revocationKey struct{}

// serveRevoke is the revocation endpoint.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	_ = r.ParseForm()
	ctx := context.WithValue(r.Context(), revocationKey{}, true)
	rec := httptest.NewRecorder()
	s.fositeMu.Lock()
	err := s.provider.NewRevocationRequest(ctx, r.WithContext(ctx))
	s.fositeMu.Unlock()
	s.provider.WriteRevocationResponse(ctx, rec, err)
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	s.stats.mu.Lock()
	s.stats.revocations = append(s.stats.revocations, Revocation{At: at, Hint: r.PostForm.Get("token_type_hint"), Status: rec.Code, Code: body.Error})
	s.stats.mu.Unlock()
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
