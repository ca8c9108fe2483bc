package sim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

func TestFuzzFindsNoViolation(t *testing.T) {
	rep := Fuzz(FuzzConfig{Runs: 300, Seed: 1})
	if rep.Failure != nil {
		t.Fatalf("run %d: %s\n%s", rep.Failure.Run, rep.Failure.Why, MarshalYAML(rep.Failure.Shrunk))
	}
}

// TestFuzzCatchesBrokenClassifier breaks the classification (a 503 revokes)
// and checks that fuzz finds it, shrinks it to one fault, and that the
// written scenario reproduces the failure.
func TestFuzzCatchesBrokenClassifier(t *testing.T) {
	defer func(c func(policy.Outcome) policy.Verdict) { classify = c }(classify)
	classify = func(o policy.Outcome) policy.Verdict {
		v := policy.Classify(o)
		if o.Status == 503 {
			v.Class = policy.Permanent
		}
		return v
	}
	rep := Fuzz(FuzzConfig{Runs: 2000, Seed: 7, Workers: 2})
	f := rep.Failure
	if f == nil {
		t.Fatal("fuzz did not notice that a 503 revokes")
	}
	// The 503 comes from a status fault or from a server over capacity.
	if n := len(f.Shrunk.Server.Faults); n > 1 || n == 0 && f.Shrunk.Fleet.ServerCapacity == 0 {
		t.Errorf("not shrunk to the one source of 503s:\n%s", MarshalYAML(f.Shrunk))
	}
	if !strings.Contains(f.Why, "transient never revokes") || !strings.Contains(f.Why, "503") {
		t.Errorf("why = %q, want the broken invariant and its cause", f.Why)
	}
	sc, err := Parse("written.yaml", MarshalYAML(f.Shrunk))
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(sc, Options{}); res.Passed {
		t.Errorf("the written scenario does not reproduce the failure")
	}
	again := Fuzz(FuzzConfig{Runs: 2000, Seed: 7, Workers: 1})
	if again.Failure == nil || again.Failure.Run != f.Run || !bytes.Equal(MarshalYAML(again.Failure.Shrunk), MarshalYAML(f.Shrunk)) {
		t.Errorf("fuzz is not reproducible across worker counts")
	}
}

// TestGenerateDrawsFamilies: now and then a generated scenario splits its
// fleet into token families, shares a store, crashes holders or takes the
// store down, and every generated scenario survives the file round trip
// that Shrink and fuzz --out rely on.
func TestGenerateDrawsFamilies(t *testing.T) {
	var families, store, crash, down, fallback, detect int
	for k := range 1000 {
		sc := generate(runSeed(3, k))
		back, err := Parse(sc.File, MarshalYAML(sc))
		if err != nil {
			t.Fatalf("run %d: %v\n%s", k, err, MarshalYAML(sc))
		}
		// Workload entries are written in their parsed form, which Generate
		// does not bother to produce.
		if diff := cmp.Diff(sc, back, cmpopts.IgnoreFields(Fault{}, "Line"), cmpopts.IgnoreFields(Scenario{}, "Workload")); diff != "" {
			t.Fatalf("run %d: round trip (-generated +read):\n%s", k, diff)
		}
		if sc.Fleet.Families > 0 {
			families++
			if sc.Share.Kind == ShareStore {
				store++
			}
		}
		for _, f := range sc.Server.Faults {
			switch f.Kind {
			case FaultCrashHolder:
				crash++
			case FaultStoreDown:
				down++
			}
		}
		if sc.Session.Fallback {
			fallback++
		}
		if sc.Token.ReuseDetection {
			detect++
		}
	}
	for name, n := range map[string]int{"families": families, "shared stores": store, "crash_holder faults": crash,
		"store_down faults": down, "fallback grants": fallback, "reuse detection": detect} {
		if n < 10 || n > 600 {
			t.Errorf("%d of 1000 scenarios draw %s", n, name)
		}
	}
}

// TestShrink keeps only what a failure needs.
func TestShrink(t *testing.T) {
	sc := mustParse(t, `{name: s, duration: 8h, token: {ttl: 1h, rotate: true}, clock_skew: 0s,
		session: {refresh_ahead: 10m, wait_for_refresh: 5s, policy: {jitter: full, max_attempts: 3}},
		server: {faults: [{from: 1h, to: 1h5m, kind: hang}, {at: 2h, kind: revoke}, {from: 3h, to: 3h1m, kind: refused}]},
		workload: [{kind: requests, every: 1m}, {kind: burst, at: 30m, count: 10}], fleet: {sessions: 3}}`)
	revoked := func(c *Scenario) bool { return Run(c, Options{}).FinalState == states.Revoked.String() }
	got := shrink(sc, revoked)
	if len(got.Server.Faults) != 1 || got.Server.Faults[0].Kind != FaultRevoke {
		t.Errorf("faults %v, want the revoke alone", got.Server.Faults)
	}
	if got.Fleet.Sessions != 1 || len(got.Workload) != 0 || got.Session.RefreshAhead != 0 || got.Token.Rotate {
		t.Errorf("not simplified:\n%s", MarshalYAML(got))
	}
	if got.Duration > 4*60*60e9 {
		t.Errorf("duration %v not shortened", got.Duration)
	}
}
