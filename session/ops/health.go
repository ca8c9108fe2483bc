package ops

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/authfsm/authfsm/session"
)

// HealthHandler returns an http.Handler that answers a health check with
// the session's state as JSON: 200 OK while it can serve a token, 503
// Service Unavailable otherwise, so a load balancer or an orchestrator's
// probe can act on it. The body never holds a token, only its fingerprint:
//
//	{"state":"backoff","token_valid":true,"expiry":"…","next_at":"…","attempt":2,
//	 "cause":"502 Bad Gateway","last_error":"session: token refresh failed: …","token":"sha256:…"}
func HealthHandler(s *session.Session) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		st := s.Status()
		body := health{State: st.State.String(), TokenValid: st.TokenValid, Attempt: st.Attempt, Cause: st.Cause,
			Token: st.Token, Generation: st.Generation, Expiry: st.Expiry, NextAt: st.NextAt}
		if st.LastError != nil {
			body.LastError = st.LastError.Error()
		}
		if st.StoreError != nil {
			body.StoreError = st.StoreError.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !st.TokenValid {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(body)
	})
}

// health is HealthHandler's answer.
type health struct {
	State      string    `json:"state"`
	TokenValid bool      `json:"token_valid"`
	Expiry     time.Time `json:"expiry,omitzero"`
	NextAt     time.Time `json:"next_at,omitzero"`
	Attempt    int       `json:"attempt,omitempty"`
	Cause      string    `json:"cause,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	StoreError string    `json:"store_error,omitempty"`
	Generation uint64    `json:"generation,omitempty"`
	Token      string    `json:"token,omitempty"`
}
