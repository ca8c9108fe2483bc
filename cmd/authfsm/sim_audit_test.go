package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/audit"
)

// TestSimAudit: `authfsm sim --audit LOG` writes the run's transitions as a
// hash-chained audit log that the audit commands read as they read a
// runtime's, and its JSON trace lines are the same records.
func TestSimAudit(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "run.jsonl")
	code, stdout, stderr := runCLI("sim", "--json", "--trace", "--audit", log, seedFile)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	head, err := audit.Verify(strings.NewReader(string(b)))
	if err != nil || head.Seq == 0 {
		t.Fatalf("the log: head %v, %v", head, err)
	}
	// The trace lines after the result line are the log's records, but
	// for the chain's members.
	traced := strings.SplitAfter(strings.TrimSuffix(stdout, "\n"), "\n")[1:]
	if want := unhash(strings.SplitAfter(string(b), "\n")); strings.Join(traced, "")+"\n" != want {
		t.Errorf("the --json --trace lines:\n%s\nthe log without its hashes:\n%s", strings.Join(traced, ""), want)
	}
	if code, out, errOut := runCLI("audit", "verify", log); code != exitOK || !strings.Contains(out, "conform to the machine") {
		t.Errorf("audit verify: exit %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := runCLI("audit", "diagram", "--format", "dot", log); code != exitOK || !strings.HasPrefix(out, "digraph") {
		t.Errorf("audit diagram: exit %d, %q, %q", code, out, errOut)
	}

	for _, tc := range []struct {
		args []string
		errw string
	}{
		{[]string{"sim", "--audit", log, seedFile, seedFile}, "authfsm sim: --audit writes the log of one run; give one file"},
		{[]string{"sim", "--audit", filepath.Join(dir, "none", "x.jsonl"), seedFile}, "authfsm sim: --audit: open"},
	} {
		if code, _, errOut := runCLI(tc.args...); code != exitBadInput || !strings.Contains(errOut, tc.errw) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, exitBadInput, tc.errw)
		}
	}
}

// TestSimAuditRestarts: a run whose crash_holder fault restarts a process
// writes a log whose records after the restart count it (restarts), and
// the audit commands take the restarted process as a new session, as
// audit.Conform does: the log conforms, with a session more than the
// fleet has.
func TestSimAuditRestarts(t *testing.T) {
	log := filepath.Join(t.TempDir(), "run.jsonl")
	file := filepath.Join("..", "..", "testdata", "scenarios", "crashed-holder-with-grace.yaml")
	if code, _, stderr := runCLI("sim", "--audit", log, file); code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"restarts":1`) {
		t.Fatalf("no record counts the restart:\n%s", b)
	}
	code, out, errOut := runCLI("audit", "verify", log)
	if code != exitOK || !strings.Contains(out, "transitions of 5 sessions conform to the machine") {
		t.Errorf("audit verify: exit %d, %q, %q; want the 4 sessions and the restarted one", code, out, errOut)
	}
}
