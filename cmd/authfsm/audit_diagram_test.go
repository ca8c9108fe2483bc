package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/diagram"
	"github.com/authfsm/authfsm/states"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// diagramLog is testdata/audit.jsonl: a hash-chained runtime log of two
// sessions, api and web, with a repair's note between their records. api
// refreshes ahead through two 502s, refreshes again, has its token
// rejected and refreshes; web is denied, logs in again, expires, waits for
// another process and adopts its pair.
func diagramLog(t *testing.T) []byte {
	t.Helper()
	type s struct {
		session  string
		from, to states.State
		event    states.Event
		cause    string
	}
	steps := []s{
		{"api", states.Valid, states.Refreshing, states.RefreshAhead, "refresh-ahead point reached"},
		{"web", states.Expired, states.Refreshing, states.Refresh, "no token"},
		{"api", states.Refreshing, states.Backoff, states.Fail, "502 Bad Gateway"},
		{"web", states.Refreshing, states.Revoked, states.Deny, "400 invalid_grant"},
		{"api", states.Backoff, states.Refreshing, states.Retry, "retry due"},
		{"api", states.Refreshing, states.Backoff, states.Fail, "502 Bad Gateway"},
		{"", states.Valid, states.Valid, states.Expire, "audit log repaired: 41 bytes of a torn last line removed"}, // the note
		{"api", states.Backoff, states.Refreshing, states.Retry, "retry due"},
		{"api", states.Refreshing, states.Valid, states.Succeed, ""},
		{"web", states.Revoked, states.Valid, states.SetToken, "re-login"},
		{"api", states.Valid, states.Refreshing, states.RefreshAhead, "refresh-ahead point reached"},
		{"api", states.Refreshing, states.Valid, states.Succeed, ""},
		{"web", states.Valid, states.Expired, states.Expire, "access token expired"},
		{"web", states.Expired, states.Refreshing, states.Refresh, "access token expired"},
		{"web", states.Refreshing, states.Waiting, states.Wait, "another process holds the lease"},
		{"api", states.Valid, states.Expired, states.Reject, "401 Unauthorized"},
		{"web", states.Waiting, states.Valid, states.Adopt, "pair published by another process"},
		{"api", states.Expired, states.Refreshing, states.Refresh, "401 Unauthorized"},
		{"api", states.Refreshing, states.Valid, states.Succeed, ""},
	}
	var b bytes.Buffer
	w := audit.NewChainWriter(&b, audit.Head{})
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for i, st := range steps {
		r := audit.Record{Time: at.Add(time.Duration(i) * 30 * time.Second), Session: st.session, From: st.from, To: st.to, Event: st.event, Cause: st.cause}
		if st.session == "" {
			r = audit.Record{Time: r.Time, Note: st.cause}
		} else {
			r.Token = audit.Fingerprint("access-token-of-" + st.session)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/authfsm -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test ./cmd/authfsm -update and review the diff):\n%s", path, got)
	}
}

// TestAuditDiagramInput keeps testdata/audit.jsonl what diagramLog writes.
// testdata/429-retry-after.audit.jsonl is what `authfsm sim --audit`
// wrote for that scenario when -update last ran; it stays as it is
// otherwise, so that a change to the simulator does not change the
// diagram's golden files (TestSimulatorTracesConform checks the live
// traces).
func TestAuditDiagramInput(t *testing.T) {
	log := diagramLog(t)
	golden(t, "audit.jsonl", log)
	if _, err := audit.Verify(bytes.NewReader(log)); err != nil {
		t.Fatal(err)
	}
	if *update {
		golden(t, "429-retry-after.audit.jsonl", []byte(simAudit(t, "429-retry-after.yaml")))
	}
}

// TestAuditDiagram runs "authfsm audit diagram" on the files of testdata/;
// in args, @NONE is a missing file and @FILE a file holding log.
func TestAuditDiagram(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		log    string // the content of @FILE
		code   int
		golden string // the golden file stdout must equal
		errw   string // stderr must contain this
	}{
		{name: "mermaid", args: []string{"testdata/audit.jsonl"}, golden: "audit.mmd"},
		{name: "mermaid, named", args: []string{"--format", "mermaid", "testdata/audit.jsonl"}, golden: "audit.mmd"},
		{name: "dot", args: []string{"--format", "dot", "testdata/audit.jsonl"}, golden: "audit.dot"},
		{name: "svg, flag after file", args: []string{"testdata/audit.jsonl", "--format=svg"}, golden: "audit.svg"},
		{name: "simulator's audit log", args: []string{"--format", "dot", "testdata/429-retry-after.audit.jsonl"}, golden: "429-retry-after.dot"},
		{name: "simulator's audit log, svg", args: []string{"--format", "svg", "testdata/429-retry-after.audit.jsonl"}, golden: "429-retry-after.svg"},
		{name: "empty log", args: []string{"--format", "dot", "@FILE"}, log: "", golden: "empty.dot"},

		{name: "impossible", args: []string{"@FILE"}, log: `{"seq":1,"session":"api","from":"valid","to":"refreshing","event":"refresh"}` + "\n", code: exitFailed,
			errw: "authfsm audit diagram: FILE:1: audit: line 1, session api: valid -refresh-> refreshing is not in the table (no refresh from valid)\nauthfsm audit diagram: FILE: not drawn: the state machine could not have written this log\n"},
		{name: "not a log", args: []string{"@FILE"}, log: "digraph {}\n", code: exitBadInput, errw: "authfsm audit diagram: FILE: audit: line 1 is not a JSON object"},
		{name: "a simulator result", args: []string{"@FILE"}, log: `{"name":"x","stats":{}}` + "\n", code: exitBadInput, errw: `audit: line 1: not an audit record: no "from"`},
		{name: "missing file", args: []string{"@NONE"}, code: exitBadInput, errw: "no such file"},
		{name: "no file", args: nil, code: exitBadInput, errw: "authfsm audit diagram: want one FILE, got 0"},
		{name: "two files", args: []string{"@FILE", "@FILE"}, code: exitBadInput, errw: "want one FILE, got 2"},
		{name: "unknown format", args: []string{"--format", "png", "testdata/audit.jsonl"}, code: exitBadInput, errw: `unknown format "png" (want mermaid, dot or svg)`},
		{name: "unknown flag", args: []string{"--width", "3", "testdata/audit.jsonl"}, code: exitBadInput, errw: "flag provided but not defined: -width"},
		{name: "help", args: []string{"--help"}, golden: "-", errw: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file, none := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "none")
			if err := os.WriteFile(file, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"audit", "diagram"}
			for _, a := range tc.args {
				args = append(args, strings.NewReplacer("@FILE", file, "@NONE", none).Replace(a))
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			errw := strings.ReplaceAll(stderr.String(), file, "FILE")
			if code != tc.code || !strings.Contains(errw, tc.errw) || tc.errw == "" && errw != "" {
				t.Fatalf("run(%q) = %d, stderr %q; want %d, stderr containing %q", args, code, errw, tc.code, tc.errw)
			}
			switch tc.golden {
			case "":
				if stdout.Len() > 0 {
					t.Errorf("stdout %q, want nothing", stdout.String())
				}
			case "-":
				if !strings.HasPrefix(stdout.String(), "authfsm audit diagram: draw the state machine") || !strings.HasSuffix(stdout.String(), diagramUsage) {
					t.Errorf("stdout %q, want the usage", stdout.String())
				}
			default:
				golden(t, tc.golden, stdout.Bytes())
			}
		})
	}
}

// The weighted renderers draw every edge of the table (the plain DOT
// groups the events that fire in every state under an "any state" node;
// the weighted one keeps each edge, since each has its own count); with no
// counts every edge is faint.
func TestWeightedDiagramsFollowThePlainOnes(t *testing.T) {
	var none states.Counts
	weighted := diagram.WeightedDOT(none)
	for _, st := range diagram.Starts() {
		if !strings.Contains(weighted, fmt.Sprintf(" -> %s [label=%q];", st.State, st.Label)) {
			t.Errorf("WeightedDOT lacks the start of %v", st.State)
		}
	}
	for _, e := range diagram.Edges() {
		head := fmt.Sprintf("    %s -> %s [label=", e.From, e.To)
		i := strings.Index(weighted, head)
		if i < 0 {
			t.Errorf("WeightedDOT lacks the edge %v -> %v", e.From, e.To)
			continue
		}
		line := weighted[i : i+strings.Index(weighted[i:], "\n")]
		if !strings.Contains(line, "style=dashed") || !strings.Contains(line, "×0") {
			t.Errorf("%q, want it drawn faint with zero counts", line)
		}
	}
	if got := strings.Count(diagram.WeightedSVG(none), `stroke-dasharray="5 4"`); got != len(diagram.Edges()) {
		t.Errorf("WeightedSVG with no counts draws %d faint edges, want all %d", got, len(diagram.Edges()))
	}
	if got := strings.Count(diagram.WeightedMermaid(none), "stroke-dasharray:4 3"); got != len(diagram.Edges()) {
		t.Errorf("WeightedMermaid with no counts draws %d faint edges, want all %d", got, len(diagram.Edges()))
	}
}

// Heavier edges are drawn heavier, on a logarithmic scale: 1 and 1000
// transitions differ, but not by a factor of a thousand.
func TestWeightedDiagramWidths(t *testing.T) {
	var c states.Counts
	c.Add(states.Valid, states.Expire)
	for range 1000 {
		c.Add(states.Expired, states.Refresh)
	}
	for range 31 {
		c.Add(states.Refreshing, states.Succeed)
	}
	if c.Add(states.Revoked, states.Retry) {
		t.Error("Counts.Add counted a transition the table does not have")
	}
	dot := diagram.WeightedDOT(c)
	for _, want := range []string{
		`valid -> expired [label="expire ×1, reject ×0, give_up ×0", penwidth=1.50];`,
		`expired -> refreshing [label="refresh ×1000", penwidth=6.00];`,
		`refreshing -> valid [label="succeed ×31, postpone ×0, set_token ×0, adopt ×0", penwidth=3.51];`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("WeightedDOT lacks %s:\n%s", want, dot)
		}
	}
}
