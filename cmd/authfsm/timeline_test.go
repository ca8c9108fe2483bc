package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
)

// apiLog is the records of session api in testdata/audit.jsonl, unchained:
// one session's log, as a process writes it without a ChainWriter.
func apiLog(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(diagramLog(t))), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Session != "api" {
			continue
		}
		r.Prev, r.Hash = "", ""
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestAuditTimeline runs "authfsm audit timeline" on the files of
// testdata/ and on logs written here; in args, @NONE is a missing file,
// @FILE a file holding log and @OUT the picture's file.
func TestAuditTimeline(t *testing.T) {
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC).Format(time.RFC3339)
	tests := []struct {
		name   string
		args   []string
		log    string // the content of @FILE
		code   int
		stdout string // stdout must contain this
		golden string // the golden file @OUT must equal
		errw   string // stderr must contain this
	}{
		{name: "runtime log of two sessions", args: []string{"--svg", "@OUT", "testdata/audit.jsonl"}, golden: "audit.timeline.svg",
			stdout: "testdata/audit.jsonl: 18 transitions of 2 sessions over 9m0s drawn to OUT\n"},
		{name: "simulator trace, flag after file", args: []string{"testdata/429-retry-after.trace.json", "--svg=@OUT"}, golden: "429-retry-after.timeline.svg",
			stdout: "10 transitions of 1 session over 51m0.25s"},
		{name: "one session, unchained", args: []string{"--svg", "@OUT", "@FILE"}, log: "@API", golden: "api.timeline.svg", stdout: "11 transitions of 1 session over 9m0s"},
		{name: "to standard output", args: []string{"--svg", "-", "testdata/audit.jsonl"}, stdout: "<svg xmlns"},

		{name: "impossible", args: []string{"--svg", "@OUT", "@FILE"}, log: `{"seq":1,"time":"` + at + `","session":"api","from":"valid","to":"refreshing","event":"refresh"}` + "\n", code: exitFailed,
			errw: "authfsm audit timeline: FILE:1: audit: line 1, session api: valid -refresh-> refreshing is not in the table (no refresh from valid)\nauthfsm audit timeline: FILE: not drawn: the state machine could not have written this log\n"},
		{name: "times and offsets", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log: `{"seq":1,"time":"` + at + `","session":"api","from":"valid","to":"refreshing","event":"refresh_ahead"}` + "\n" +
				`{"seq":1,"at":"1m","session":0,"from":"valid","to":"refreshing","event":"refresh_ahead"}` + "\n",
			errw: "line 2: the file mixes runtime records (times) and simulator traces (offsets from the start of a run)"},
		{name: "record without a time", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log: `{"seq":1,"session":"api","from":"valid","to":"refreshing","event":"refresh_ahead"}` + "\n", errw: "line 1: a record without a time"},
		{name: "no transition", args: []string{"--svg", "@OUT", "@FILE"}, log: "\n", code: exitBadInput, errw: "no transition to draw"},
		{name: "not a log", args: []string{"--svg", "@OUT", "@FILE"}, log: "digraph {}\n", code: exitBadInput, errw: "authfsm audit timeline: FILE: audit: line 1 is not a JSON object"},
		{name: "result without trace", args: []string{"--svg", "@OUT", "@FILE"}, log: `{"name":"x","stats":{}}` + "\n", code: exitBadInput, errw: "without its trace"},
		{name: "missing file", args: []string{"--svg", "@OUT", "@NONE"}, code: exitBadInput, errw: "no such file"},
		{name: "no --svg", args: []string{"testdata/audit.jsonl"}, code: exitBadInput, errw: "authfsm audit timeline: --svg OUT is required"},
		{name: "no file", args: []string{"--svg", "@OUT"}, code: exitBadInput, errw: "authfsm audit timeline: want one FILE, got 0"},
		{name: "unwritable picture", args: []string{"--svg", "@NONE/x.svg", "testdata/audit.jsonl"}, code: exitBadInput, errw: "authfsm audit timeline: open"},
		{name: "help", args: []string{"--help"}, stdout: timelineUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file, none, out := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "none"), filepath.Join(dir, "out.svg")
			log := tc.log
			if log == "@API" {
				log = apiLog(t)
			}
			if err := os.WriteFile(file, []byte(log), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"audit", "timeline"}
			for _, a := range tc.args {
				args = append(args, strings.NewReplacer("@FILE", file, "@NONE", none, "@OUT", out).Replace(a))
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			errw := strings.ReplaceAll(stderr.String(), file, "FILE")
			if code != tc.code || !strings.Contains(errw, tc.errw) || tc.errw == "" && errw != "" {
				t.Fatalf("run(%q) = %d, stderr %q; want %d, stderr containing %q", args, code, errw, tc.code, tc.errw)
			}
			if got := strings.ReplaceAll(stdout.String(), out, "OUT"); !strings.Contains(got, tc.stdout) || tc.stdout == "" && got != "" {
				t.Errorf("stdout %q, want it to contain %q", got, tc.stdout)
			}
			if tc.golden != "" {
				picture, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, tc.golden, picture)
			} else if _, err := os.Stat(out); err == nil {
				t.Errorf("wrote %s", out)
			}
		})
	}
}
