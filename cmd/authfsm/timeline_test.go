package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// record is a line of a runtime log of session api: at is its time member.
func record(seq int, at, from, to, event string) string {
	return fmt.Sprintf(`{"seq":%d,%s,"session":"api","from":"%s","to":"%s","event":"%s"}`+"\n", seq, at, from, to, event)
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
		{name: "simulator's audit log, flag after file", args: []string{"testdata/429-retry-after.audit.jsonl", "--svg=@OUT"}, golden: "429-retry-after.timeline.svg",
			stdout: "10 transitions of 1 session over 51m0.25s"},
		{name: "one session, unchained", args: []string{"--svg", "@OUT", "@FILE"}, log: "@API", golden: "api.timeline.svg", stdout: "11 transitions of 1 session over 9m0s"},
		{name: "to standard output", args: []string{"--svg", "-", "testdata/audit.jsonl"}, stdout: "<svg xmlns"},

		{name: "impossible", args: []string{"--svg", "@OUT", "@FILE"}, log: `{"seq":1,"time":"` + at + `","session":"api","from":"valid","to":"refreshing","event":"refresh"}` + "\n", code: exitFailed,
			errw: "authfsm audit timeline: FILE:1: audit: line 1, session api: valid -refresh-> refreshing is not in the table (no refresh from valid)\nauthfsm audit timeline: FILE: not drawn: the state machine could not have written this log\n"},
		{name: "records centuries apart", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log:  record(1, `"time":"1800-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead") + record(2, `"time":"2200-01-01T00:00:00Z"`, "refreshing", "valid", "succeed"),
			errw: "authfsm audit timeline: FILE: line 2: time 2200-01-01T00:00:00Z is more than 292 years after line 1's 1800-01-01T00:00:00Z, longer than the picture's time axis can span (seq 2, session api)\n"},
		{name: "the later record first", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log:  record(1, `"time":"2200-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead") + record(2, `"time":"1800-01-01T00:00:00Z"`, "refreshing", "valid", "succeed"),
			errw: "line 2: time 1800-01-01T00:00:00Z is more than 292 years before line 1's 2200-01-01T00:00:00Z"},
		{name: "time before 1677", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log:  record(1, `"time":"1500-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead") + record(2, `"time":"1500-01-01T00:10:00Z"`, "refreshing", "valid", "succeed"),
			errw: "authfsm audit timeline: FILE: line 1: time 1500-01-01T00:00:00Z is before 1677-09-21T00:12:43.145224192Z, the earliest the picture can place (seq 1, session api)\n"},
		{name: "time after 2262", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log:  record(1, `"time":"2026-03-01T11:00:00Z"`, "valid", "refreshing", "refresh_ahead") + record(2, `"time":"2300-01-01T00:00:00Z"`, "refreshing", "valid", "succeed"),
			errw: "line 2: time 2300-01-01T00:00:00Z is after 2262-04-11T23:47:16.854775807Z, the latest the picture can place (seq 2, session api)"},
		{name: "centuries apart, within range", args: []string{"--svg", "@OUT", "@FILE"},
			log:    record(1, `"time":"1700-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead") + record(2, `"time":"1990-01-01T00:00:00Z"`, "refreshing", "valid", "succeed"),
			golden: "centuries.timeline.svg", stdout: "2 transitions of 1 session over " + time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)).String() + " drawn to OUT"},
		{name: "record without a time", args: []string{"--svg", "@OUT", "@FILE"}, code: exitBadInput,
			log: `{"seq":1,"session":"api","from":"valid","to":"refreshing","event":"refresh_ahead"}` + "\n", errw: "line 1: a record without a time"},
		{name: "no transition", args: []string{"--svg", "@OUT", "@FILE"}, log: "\n", code: exitBadInput, errw: "no transition to draw"},
		{name: "not a log", args: []string{"--svg", "@OUT", "@FILE"}, log: "digraph {}\n", code: exitBadInput, errw: "authfsm audit timeline: FILE: audit: line 1 is not a JSON object"},
		{name: "a simulator result", args: []string{"--svg", "@OUT", "@FILE"}, log: `{"name":"x","stats":{}}` + "\n", code: exitBadInput, errw: `audit: line 1: not an audit record: no "from"`},
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

// TestTimeErrorNamesTheRecord: a record whose time the picture cannot place
// is reported as a *timeError (errors.Is errUndrawableTime) naming its
// line, its seq and its session.
func TestTimeErrorNamesTheRecord(t *testing.T) {
	tests := []struct {
		name, log string
		want      timeError
	}{
		{name: "centuries apart", log: "\n" + record(7, `"time":"1800-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead") +
			record(8, `"time":"2100-01-01T00:00:00Z"`, "refreshing", "valid", "succeed"),
			want: timeError{Line: 3, Seq: 8, Session: "api"}},
		{name: "too early", log: record(1, `"time":"1600-01-01T00:00:00Z"`, "valid", "refreshing", "refresh_ahead"),
			want: timeError{Line: 1, Seq: 1, Session: "api"}},
		{name: "too late", log: `{"time":"9999-01-01T00:00:00Z","from":"valid","to":"refreshing","event":"refresh_ahead"}` + "\n",
			want: timeError{Line: 1}},
		{name: "no time", log: record(1, `"time":"2026-03-01T11:00:00Z"`, "valid", "refreshing", "refresh_ahead") + `{"seq":2,"session":"web","from":"valid","to":"expired","event":"expire"}` + "\n",
			want: timeError{Line: 2, Seq: 2, Session: "web"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanLog(strings.NewReader(tc.log))
			var te *timeError
			if !errors.As(err, &te) || !errors.Is(err, errUndrawableTime) {
				t.Fatalf("scanLog: %v, want a *timeError", err)
			}
			got := *te
			got.Reason = ""
			if got != tc.want || te.Reason == "" {
				t.Errorf("scanLog: %+v, want %+v with a reason", *te, tc.want)
			}
		})
	}
}
