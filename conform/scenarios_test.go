package conform

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

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
// runtime and the simulator: each agrees.
func TestScenariosConform(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
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
			if res.Diff != nil {
				t.Errorf("the runtime and the simulator disagree:\n%s", res.Diff)
			}
		})
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
