package simserver

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/sim"
)

// This file is the model's server proper, as docs/SCENARIOS.md describes it
// and the simulator runs it: refresh-token families, rotation, the reuse
// grace, reuse detection, revocation, and the resource server's judgement
// of access tokens. Times are virtual instants (offsets from the start of
// the run, on the server's clock). mu is held throughout.

// family is the server's record of one refresh-token family: the sessions
// of a family are processes of one client that start with the same
// refresh token.
type family struct {
	// rtGen numbers the current refresh token (1 for the family's first, 0
	// before any session of the family logged in); issued[g] is when
	// refresh token g was issued, which is when g-1 retired.
	rtGen  int
	issued []time.Duration
	// revoked: reuse detection revoked the family, every token of it (a
	// revoke fault is a window of answers, not a record).
	revoked bool
}

// access is the server's record of one access token.
type access struct {
	family int
	issued time.Duration
}

// refreshOutcome is what the token server made of a refresh token.
type refreshOutcome uint8

const (
	refreshOK      refreshOutcome = iota
	refreshRefused                // invalid_grant
)

// refresh checks the presented refresh token at t and, when it is good,
// rotates it if the scenario says so; it returns the refresh token the
// answer carries ("" when it is unchanged). A retired token is accepted
// for reuse_grace after its retirement; outside it, with reuse_detection,
// it revokes the family.
func (s *Server) refresh(token string, t time.Duration) (refreshOutcome, string) {
	fi, gen, ok := parseRefresh(token)
	if !ok || fi >= len(s.fams) {
		return refreshRefused, ""
	}
	f := &s.fams[fi]
	if f.revoked || gen < 1 || gen > f.rtGen {
		return refreshRefused, ""
	}
	ttl := s.sc.Token.RefreshTTL
	cur := gen == f.rtGen && (ttl == 0 || t < f.issued[gen]+ttl)
	graced := gen < f.rtGen && s.sc.Token.Rotate && t < f.issued[gen+1]+s.sc.Token.ReuseGrace
	if !cur && !graced {
		if gen < f.rtGen && s.sc.Token.ReuseDetection {
			f.revoked = true
		}
		return refreshRefused, ""
	}
	if !s.sc.Token.Rotate {
		return refreshOK, ""
	}
	f.rtGen++
	f.issued = append(f.issued, t)
	return refreshOK, refreshToken(fi, f.rtGen)
}

// issueAccess issues a new access token of family fi at t.
func (s *Server) issueAccess(fi int, t time.Duration) string {
	s.tokens++
	tok := accessToken(s.tokens, fi, s.epoch.Add(t), s.epoch.Add(t+s.sc.Token.TTL))
	s.access[tok] = access{family: fi, issued: t}
	return tok
}

// Causes of the resource server's refusals, as the WWW-Authenticate
// challenge's error_description says them.
const (
	whyExpired    = "access token expired by the server's clock"
	whyRejected   = "access token rejected"
	whyRejectsAll = "every access token rejected"
	whyUnknown    = "unknown access token"
)

// judge is the resource server's judgement of an access token at t: ""
// when it accepts it, else why not. It judges by its own clock: an expired
// token, one issued before a reject_access instant, or any token within a
// reject_access window is refused.
func (s *Server) judge(tok string, t time.Duration) string {
	a, ok := s.access[tok]
	switch {
	case !ok:
		return whyUnknown
	case t >= a.issued+s.sc.Token.TTL:
		return whyExpired
	}
	for i := range s.sc.Server.Faults {
		f := &s.sc.Server.Faults[i]
		if f.Kind != sim.FaultRejectAccess {
			continue
		}
		if f.Instant && f.From <= t && a.issued < f.From {
			return whyRejected
		}
		if !f.Instant && f.From <= t && t < f.To {
			return whyRejectsAll
		}
	}
	return ""
}

// refreshToken is the text of refresh token gen of family fi.
func refreshToken(fi, gen int) string { return "rt-" + strconv.Itoa(fi) + "-" + strconv.Itoa(gen) }

// parseRefresh reads a refresh token's family and number.
func parseRefresh(tok string) (fi, gen int, ok bool) {
	rest, found := strings.CutPrefix(tok, "rt-")
	a, b, found2 := strings.Cut(rest, "-")
	if !found || !found2 {
		return 0, 0, false
	}
	fi, err1 := strconv.Atoi(a)
	gen, err2 := strconv.Atoi(b)
	return fi, gen, err1 == nil && err2 == nil && fi >= 0
}

// accessToken is the text of access token n: an unsigned JWT whose exp and
// iat claims are the server's clock, so that a client told no expires_in
// reads its expiry from exp, as from a real server's token.
func accessToken(n, fi int, iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	payload := fmt.Sprintf(`{"sub":"family-%d","jti":"%d","iat":%s,"exp":%s}`, fi, n, seconds(iat), seconds(exp))
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".sim"
}

// seconds writes t as Unix seconds, with as many decimals as its
// nanoseconds need.
func seconds(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}
