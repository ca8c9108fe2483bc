package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/states"
)

// relogin is a fleet whose refresh tokens the server refuses for two
// minutes around their refresh point, and whose user logs in again later.
const relogin = `name: relogin
duration: 3h
token: {ttl: 1h, rotate: true, reuse_detection: true}
fleet: {sessions: %FLEET%}
%SHARE%
server:
  faults:
    - {from: 54m, to: 56m, kind: status, status: 400, error: invalid_grant}
workload:
  - {kind: requests, every: 1m}
  - {kind: login, at: 1h15m0.5s}
`

func runRelogin(t *testing.T, fleet, share string) *Result {
	t.Helper()
	src := strings.NewReplacer("%FLEET%", fleet, "%SHARE%", share).Replace(relogin)
	sc, err := Parse("relogin.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return Run(sc, Options{Trace: true})
}

// TestLoginStates: with a login method (fleet.login: outside) the refused
// processes need a login instead of being revoked, send nothing while they
// wait, and the login brings every one back — through the family's store
// (adopt) or, without one, given to each process (set_token after the
// refusal); without a login method the same run revokes them, and the
// login still brings them back, as a re-login does.
func TestLoginStates(t *testing.T) {
	for _, tc := range []struct {
		name, fleet, share string
		wait               states.State
		back               states.Event
	}{
		{"family, login outside", "6, families: 2, login: outside", "share: {kind: store}", states.NeedsLogin, states.Adopt},
		{"family, no login method", "6, families: 2", "share: {kind: store}", states.Revoked, states.Adopt},
		{"own families, login outside", "3, login: outside", "", states.NeedsLogin, states.SetToken},
		{"own families, no login method", "3", "", states.Revoked, states.SetToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runRelogin(t, tc.fleet, tc.share)
			if res.FinalState != "valid" {
				t.Errorf("final state %s, want valid", res.FinalState)
			}
			waiting := map[int]bool{}
			for _, e := range res.Trace {
				at, i := e.Time.Sub(Epoch()), sessionOf(e)
				switch {
				case e.To == tc.wait:
					waiting[i] = true
				case waiting[i] && e.To == states.Valid:
					if e.Event != tc.back || at < 75*time.Minute {
						t.Errorf("session %d came back at %s by %v, want by %v after the login", i, at, e.Event, tc.back)
					}
					delete(waiting, i)
				case waiting[i]:
					t.Errorf("session %d, waiting for a login, made a transition at %s: %v -%v->", i, at, e.From, e.Event)
				}
				if e.To == states.Revoked && tc.wait == states.NeedsLogin {
					t.Errorf("session %d revoked at %s despite its login method", i, at)
				}
			}
			if len(waiting) != 0 {
				t.Errorf("sessions %v never came back", waiting)
			}
			// Every refresh request: one per session refused, one per
			// family (or session) after the login.
			if n := res.Stats.RefreshRequests; n > 8 {
				t.Errorf("%d refresh requests, want at most 8: a process waiting for a login sends nothing", n)
			}
		})
	}
}
