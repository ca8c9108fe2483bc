package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// scenarioFiles returns the scenario library.
func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	return files
}

// golden compares got with the golden file name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("../testdata/golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sim -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the run's output:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestScenarioLibrary runs every scenario of the library: each must pass its
// own expectations, break no invariant, explain itself, and produce
// exactly its golden JSON result and report.
func TestScenarioLibrary(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(base, func(t *testing.T) {
			sc, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(sc.Description) < 100 {
				t.Errorf("the description must say what a naive client does wrong")
			}
			res := Run(sc, Options{})
			if !res.Passed {
				var b bytes.Buffer
				Report(&b, sc, res, reproduceLine(res, file))
				t.Errorf("scenario fails:\n%s", b.String())
			}
			if len(res.Violations) > 0 {
				t.Errorf("invariants broken: %v", res.Violations)
			}
			golden(t, base+".json", append(res.JSON(), '\n'))
			var b bytes.Buffer
			Report(&b, sc, res, reproduceLine(res, file))
			golden(t, base+".txt", b.Bytes())
		})
	}
}

// TestDeterministic checks that the same file and seed give byte-identical
// output, trace included, and that another seed changes a jittered run.
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"502-at-expiry-no-margin", "fleet-outage-jitter"} {
		sc, err := Load("../testdata/scenarios/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		a := Run(sc, Options{Trace: true}).JSON()
		b := Run(sc, Options{Trace: true}).JSON()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", name)
		}
		sc.Seed++
		if c := Run(sc, Options{Trace: true}).JSON(); bytes.Equal(a, c) {
			t.Errorf("%s: another seed gives the same jittered run", name)
		}
	}
}

// TestScenarioLibraryHoldsForOtherSeeds reruns the library under other
// seeds: the expectations state what authfsm guarantees, so they must not
// depend on a lucky draw of jitter.
func TestScenarioLibraryHoldsForOtherSeeds(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		sc, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		seeds := uint64(20)
		if sc.Fleet.Sessions > 1 {
			seeds = 2 // a thousand sessions already draw a thousand schedules
		}
		for s := uint64(100); s < 100+seeds; s++ {
			sc.Seed = s
			if res := Run(sc, Options{}); !res.Passed {
				var b bytes.Buffer
				Report(&b, sc, res, reproduceLine(res, file))
				t.Errorf("fails with seed %d:\n%s", s, b.String())
			}
		}
	}
}

// reproduceLine is the command line the CLI gives Report for a run of file.
func reproduceLine(res *Result, file string) string {
	return fmt.Sprintf("authfsm sim --seed %d %s", res.Seed, file)
}
