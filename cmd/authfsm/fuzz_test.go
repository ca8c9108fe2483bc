package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

// stageViolation makes fuzz report a violation found in the scenario at
// seedFile, restoring the real fuzzer when the test ends.
func stageViolation(t *testing.T) {
	t.Helper()
	sc, err := sim.Load(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fuzz = sim.Fuzz })
	fuzz = func(cfg sim.FuzzConfig) sim.FuzzReport {
		return sim.FuzzReport{Runs: cfg.Runs, Seed: cfg.Seed, Failure: &sim.FuzzFailure{Run: 3, Scenario: sc, Shrunk: sc, Why: "staged"}}
	}
}

func TestFuzzWritesShrunkScenario(t *testing.T) {
	stageViolation(t)
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runCLI("fuzz", "--runs", "5", "--out", dir)
	file := filepath.Join(dir, "seed-502-at-refresh.yaml")
	if code != exitFailed || !strings.Contains(out, "shrunk scenario: "+file) || errOut != "" {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailed, out, errOut)
	}
	if _, err := sim.Load(file); err != nil {
		t.Errorf("the written scenario does not load: %v", err)
	}
}

// TestFuzzReportsUnwritableOut: --out under a regular file cannot be
// created; the failure used to be dropped (a shadowed err) and fuzz printed
// a path to a file that did not exist.
func TestFuzzReportsUnwritableOut(t *testing.T) {
	stageViolation(t)
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("fuzz", "--runs", "5", "--out", filepath.Join(file, "sub"))
	if code != exitBadInput || out != "" || !strings.Contains(errOut, "cannot write the shrunk scenario") ||
		!strings.Contains(errOut, "run 3 of seed 1 broke an invariant: staged") {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitBadInput, out, errOut)
	}
}

// TestFuzzOneRun: the summary counts in the singular too.
func TestFuzzOneRun(t *testing.T) {
	if code, out, errOut := runCLI("fuzz", "--runs", "1"); code != exitOK || out != "fuzz: 1 run from seed 1, no violation\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
