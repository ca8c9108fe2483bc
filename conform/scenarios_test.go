package conform

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

// knownDrift lists the library's scenarios on which the runtime and the
// simulator do not agree yet, each with the reason: a decision or a
// wording written twice, in session/ and in sim/. The list may only
// shrink: TestScenariosConform fails when a listed scenario starts to
// agree (remove it) or an unlisted one disagrees.
var knownDrift = map[string]string{
	"crashed-holder-fallback": "restart: the simulator records a crashed process's restart as a set_token " +
		"transition of its session, with the store's pair or, the family never published, its own copy; the " +
		"runtime's restarted process is a new Session, which records none and, its family never published, " +
		"starts without a pair. Also: a waiting runtime session takes over one store round trip after the " +
		"lease lapsed (session.waitFor measures the lease from the Read before Acquire), the simulator at the lapse",
	"crashed-holder-revoked":    "restart: as crashed-holder-fallback",
	"crashed-holder-with-grace": "restart: as crashed-holder-fallback",
	"early-access-rejection": "cause of a rejection: the simulator's resource server names its reason " +
		"(\"401 Unauthorized from the resource server: access token rejected\"); the runtime's Transport " +
		"quotes the answer (\"401 Unauthorized from URL (WWW-Authenticate: …)\"); the transitions agree otherwise",
	"rejection-storm": "cause of a rejection: as early-access-rejection",
	"family-shared-store": "publish: the simulator publishes a new pair (one store round trip) before it " +
		"feeds the answer to the machine, the runtime installs the pair as the answer arrives, then publishes " +
		"(its succeed comes one store latency earlier); an adopt's cause names the generation in the runtime only",
	"shared-store-outage": "publish: as family-shared-store; a store round trip's failure is " +
		"\"shared store unreachable\" in the simulator, \"shared store unreachable: <the store's error>\" in the runtime",
}

// largeFleet is the size above which a fleet is left out of the short
// tests and of those with the race detector: it takes seconds, minutes
// under the detector.
const largeFleet = 100

// scenarioFiles returns the scenario library.
func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	return files
}

// TestScenariosConform runs every scenario of the library through the
// runtime and the simulator: each agrees, or is a known drift.
func TestScenariosConform(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			sc, err := sim.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if (testing.Short() || raceEnabled) && sc.Fleet.Sessions > largeFleet {
				t.Skipf("a fleet of %d sessions; run without -short and -race", sc.Fleet.Sessions)
			}
			res, err := Run(sc)
			if err != nil {
				t.Fatal(err)
			}
			why, drift := knownDrift[name]
			switch {
			case res.Diff != nil && !drift:
				t.Errorf("the runtime and the simulator disagree:\n%s", res.Diff)
			case res.Diff == nil && drift:
				t.Errorf("agrees now: remove it from knownDrift (%s)", why)
			case drift:
				t.Logf("known drift (%s):\n%s", why, res.Diff)
			}
		})
	}
	for name := range knownDrift {
		if !seen[name] {
			t.Errorf("knownDrift lists %s, which is not in the library", name)
		}
	}
}

// TestRuntimeDeterministic runs every scenario of the library with at
// most largeFleet sessions through the runtime twice: the transitions are
// the same every time, agreeing with the simulator or not. (Run with
// -count=20 to check harder.)
func TestRuntimeDeterministic(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := sim.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Fleet.Sessions > largeFleet {
				t.Skipf("a fleet of %d sessions", sc.Fleet.Sessions)
			}
			first, lost, err := runRuntime(sc)
			if err != nil {
				t.Fatal(err)
			}
			again, lost2, err := runRuntime(sc)
			if err != nil {
				t.Fatal(err)
			}
			if d := compare(first, again, lost, lost2); d != nil {
				t.Errorf("two runs of the runtime differ:\n%s", strings.NewReplacer("simulator", "first run", "runtime:  ", "second run:").Replace(d.String()))
			}
		})
	}
}
