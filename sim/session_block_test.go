package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

func TestUseSession(t *testing.T) {
	sc, err := Parse("s.yaml", []byte(families+"share: {kind: store, lease: 12s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	prof := defaults().Session
	prof.RefreshAhead, prof.Policy = time.Minute, policy.Spec{Kind: "none"}
	if err := sc.UseSession(prof); err != nil {
		t.Fatal(err)
	}
	if sc.Session.RefreshAhead != time.Minute || sc.Session.Policy.Kind != "none" {
		t.Errorf("session %+v, want the profile's", sc.Session)
	}
	long := prof
	long.RequestTimeout = 30 * time.Second
	if err := sc.UseSession(long); err == nil || !strings.Contains(err.Error(), "session.lease") {
		t.Errorf("a lease shorter than the profile's request timeout: %v", err)
	}
	if sc.Session.RefreshAhead != time.Minute || sc.Session.RequestTimeout == long.RequestTimeout {
		t.Errorf("a refused session replaced the scenario's")
	}
	th := prof
	th.Throttle = policy.ThrottleSpec{Kind: "adaptive"}
	if err := sc.UseSession(th); err != nil || sc.Session.Throttle.Kind != "adaptive" {
		t.Errorf("a profile's throttle is simulated: %v, %+v", err, sc.Session.Throttle)
	}
}
