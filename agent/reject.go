package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session"
)

// RejectRequest is the body of POST /v1/token/reject: a token that a
// server refused.
type RejectRequest struct {
	AccessToken string `json:"access_token"`
}

// RejectResponse is POST /v1/token/reject's answer.
type RejectResponse struct {
	// Rejected reports whether the token was the profile's current one,
	// now no longer served; false for an older or unknown token, which
	// changes nothing.
	Rejected bool `json:"rejected"`
	// State is the session's state after the rejection.
	State string `json:"state"`
}

// maxRejectBody bounds POST /v1/token/reject's body.
const maxRejectBody = 64 << 10

// serveReject serves POST /v1/token/reject?profile=NAME: a client tells
// the agent that a server refused its token (git's erase after a 401, a
// program's own 401). When the token is the profile's current one the
// session treats it as the proxy treats a 401 (session.Session.Reject):
// the token is no longer served and a refresh starts, paced by the retry
// policy when the token a rejection's refresh delivered is refused too. It
// needs what /v1/token needs (the header, no relay).
func (a *Agent) serveReject(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(TokenRequestHeader) != "1" {
		a.refused(r)
		writeError(w, http.StatusForbidden, "authfsm agent: /v1/token/reject needs the header "+TokenRequestHeader+": 1", "")
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
	var req RejectRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRejectBody+1))
	if err == nil && len(body) > maxRejectBody {
		err = io.ErrShortBuffer
	}
	if err != nil || json.Unmarshal(body, &req) != nil || req.AccessToken == "" || strings.TrimSpace(req.AccessToken) != req.AccessToken {
		writeError(w, http.StatusBadRequest, `authfsm agent: want a JSON body {"access_token": "…"} of at most 64 KiB`, "")
		return
	}
	current := p.s.Status().Token == audit.Fingerprint(req.AccessToken)
	if current {
		p.s.Reject(session.Secret(req.AccessToken))
		p.n.rejected.Add(1)
		a.log.Info("a client reported the token refused", "profile", p.cfg.Name, "token", audit.Fingerprint(req.AccessToken))
	} else {
		p.n.rejectedStale.Add(1)
	}
	writeJSON(w, http.StatusOK, RejectResponse{Rejected: current, State: p.s.Status().State.String()})
}
