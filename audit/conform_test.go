package audit_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// step is one transition of a session, for building logs.
type step struct {
	session  string
	from, to states.State
	event    states.Event
}

func stepRecords(steps []step) []audit.Record {
	rs := make([]audit.Record, len(steps))
	for i, s := range steps {
		rs[i] = audit.Record{Time: t0.Add(time.Duration(i) * time.Second), Session: s.session, From: s.from, To: s.to, Event: s.event}
	}
	return rs
}

// unchained writes records as plain JSON lines, as a sink without a chain
// would.
func unchained(t *testing.T, rs []audit.Record) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rs {
		j, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// api and web interleave: api refreshes through a 502, web expires and
// refreshes.
var interleaved = []step{
	{"api", states.Valid, states.Refreshing, states.RefreshAhead},
	{"web", states.Valid, states.Expired, states.Expire},
	{"api", states.Refreshing, states.Backoff, states.Fail},
	{"web", states.Expired, states.Refreshing, states.Refresh},
	{"api", states.Backoff, states.Refreshing, states.Retry},
	{"web", states.Refreshing, states.Valid, states.Succeed},
	{"api", states.Refreshing, states.Valid, states.Succeed},
}

// edit returns the steps with step i (0-based) replaced.
func edit(steps []step, i int, s step) []step {
	out := append([]step(nil), steps...)
	out[i] = s
	return out
}

// trace is a simulator's trace (sim.Options.OnTransition) as audit
// records: virtual times, each session named by its index.
const trace = `{"seq":1,"time":"2026-01-01T00:45:00Z","session":"0","from":"valid","to":"refreshing","event":"refresh_ahead","cause":"refresh-ahead point reached","attempt":1}
{"seq":2,"time":"2026-01-01T00:45:00Z","session":"1","from":"valid","to":"expired","event":"expire"}
{"seq":3,"time":"2026-01-01T00:45:00.05Z","session":"0","from":"refreshing","to":"valid","event":"succeed","attempt":1}
`

func TestConform(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "chain.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	chained := func(steps []step) string { return string(writeChain(t, stepRecords(steps))) }
	tests := []struct {
		name     string
		log      string
		want     audit.Conformance // Transitions, Notes, Sessions; Counts unchecked
		conform  string            // a *ConformError with this message
		kind     audit.ConformKind
		line     int
		bad      string // another error, containing this
		verifies bool   // the hash chain verifies (checked when set)
	}{
		{name: "golden chain", log: string(golden), want: audit.Conformance{Transitions: 5, Sessions: 1}, verifies: true},
		{name: "interleaved sessions", log: chained(interleaved), want: audit.Conformance{Transitions: 7, Sessions: 2}, verifies: true},
		{name: "unchained", log: unchained(t, stepRecords(interleaved)), want: audit.Conformance{Transitions: 7, Sessions: 2}},
		{name: "empty", log: ""},
		{name: "blank lines", log: "\n" + unchained(t, stepRecords(interleaved[:2])) + "  \n", want: audit.Conformance{Transitions: 2, Sessions: 2}},
		{name: "no last newline", log: strings.TrimSuffix(string(golden), "\n"), want: audit.Conformance{Transitions: 5, Sessions: 1}},
		{name: "a session may start anywhere", log: chained([]step{{"api", states.Backoff, states.Refreshing, states.Retry}}), want: audit.Conformance{Transitions: 1, Sessions: 1}},
		{name: "unnamed session", log: chained([]step{{"", states.Valid, states.Expired, states.Expire}, {"", states.Expired, states.Refreshing, states.Refresh}}), want: audit.Conformance{Transitions: 2, Sessions: 1}},

		// Rewritten and rehashed: the chain verifies, the story does not.
		{name: "event not in the table", log: chained(edit(interleaved, 4, step{"api", states.Valid, states.Refreshing, states.Refresh})), verifies: true,
			conform: "audit: line 5, session api: valid -refresh-> refreshing is not in the table (no refresh from valid)", kind: audit.NotInTable, line: 5},
		{name: "wrong destination", log: chained(edit(interleaved, 1, step{"web", states.Valid, states.Backoff, states.Expire})), verifies: true,
			conform: "audit: line 2, session web: valid -expire-> backoff is not in the table (expire leads from valid to expired)", kind: audit.NotInTable, line: 2},
		{name: "out of sequence", log: chained(edit(interleaved, 6, step{"api", states.Backoff, states.Refreshing, states.Retry})), verifies: true,
			conform: "audit: line 7, session api: from backoff but the previous record (line 5) left it in refreshing", kind: audit.OutOfSequence, line: 7},
		{name: "record removed", log: chained(append(interleaved[:2:2], interleaved[3:]...)), verifies: true,
			conform: "audit: line 4, session api: from backoff but the previous record (line 1) left it in refreshing", kind: audit.OutOfSequence, line: 4},
		{name: "unknown state", log: strings.Replace(chained(interleaved[:1]), `"to":"refreshing"`, `"to":"limbo"`, 1),
			conform: `audit: line 1, session api: to "limbo" is not a state of the machine`, kind: audit.UnknownName, line: 1},
		{name: "unknown event", log: strings.Replace(chained(interleaved[:1]), `"event":"refresh_ahead"`, `"event":"teleport"`, 1),
			conform: `audit: line 1, session api: event "teleport" is not an event of the machine`, kind: audit.UnknownName, line: 1},
		{name: "unchained and impossible", log: unchained(t, stepRecords(edit(interleaved, 5, step{"web", states.Revoked, states.Refreshing, states.Retry}))),
			conform: "audit: line 6, session web: revoked -retry-> refreshing is not in the table (no retry from revoked)", kind: audit.NotInTable, line: 6},

		{name: "simulator trace", log: trace, want: audit.Conformance{Transitions: 3, Sessions: 2}},
		{name: "simulator trace, impossible", log: strings.Replace(trace, `"session":"0","from":"refreshing"`, `"session":"0","from":"backoff"`, 1),
			conform: "audit: line 3, session 0: backoff -succeed-> valid is not in the table (no succeed from backoff)", kind: audit.NotInTable, line: 3},
		// Conform reads records, whoever wrote them: a simulator's result
		// (authfsm sim --json) is not one.
		{name: "a simulator result", log: `{"name":"x","seed":1,"passed":true,"stats":{"requests":1,"transitions":3}}` + "\n" + trace, bad: `audit: line 1: not an audit record: no "from"`},
		// A process that restarted (Record.Restarts, as a crash_holder
		// fault's restart in the simulator's trace) is a new session, whose
		// first record may leave any state; unmarked, it is out of sequence.
		{name: "simulator trace, a restarted process", log: strings.Replace(trace, `"session":"0","from":"refreshing","to":"valid","event":"succeed","attempt":1`,
			`"session":"0","from":"valid","to":"expired","event":"expire","restarts":1`, 1),
			want: audit.Conformance{Transitions: 3, Sessions: 3}},
		{name: "simulator trace, a restart unmarked", log: strings.Replace(trace, `"session":"0","from":"refreshing","to":"valid","event":"succeed","attempt":1`,
			`"session":"0","from":"valid","to":"expired","event":"expire"`, 1),
			conform: "audit: line 3, session 0: from valid but the previous record (line 1) left it in refreshing", kind: audit.OutOfSequence, line: 3},
		{name: "simulator trace, restarted twice", log: trace + `{"seq":4,"time":"2026-01-01T00:46:00Z","session":"0","from":"valid","to":"expired","event":"expire","restarts":1}
{"seq":5,"time":"2026-01-01T00:47:00Z","session":"0","from":"expired","to":"refreshing","event":"refresh","restarts":1}
{"seq":6,"time":"2026-01-01T00:48:00Z","session":"0","from":"valid","to":"expired","event":"expire","restarts":2}
`, want: audit.Conformance{Transitions: 6, Sessions: 4}},

		{name: "not JSON", log: string(golden) + "garbage\n", bad: "audit: line 6 is not a JSON object"},
		{name: "broken JSON", log: `{"seq":1,"from":"valid"` + "\n", bad: "audit: line 1: unexpected end of JSON input"},
		{name: "no event", log: `{"seq":1,"session":"api","from":"valid","to":"expired"}` + "\n", bad: `audit: line 1: not an audit record: no "event"`},
		{name: "session not a name", log: `{"seq":1,"session":true,"from":"valid","to":"expired","event":"expire"}` + "\n", bad: "audit: line 1: session is not a name: bool"},
		{name: "session an index", log: `{"seq":1,"session":0,"from":"valid","to":"expired","event":"expire"}` + "\n", bad: "audit: line 1: session is not a name: number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.verifies {
				if _, err := audit.Verify(strings.NewReader(tc.log)); err != nil {
					t.Fatalf("the chain does not verify: %v", err)
				}
			}
			got, err := audit.Conform(strings.NewReader(tc.log))
			var ce *audit.ConformError
			isConform := errors.As(err, &ce)
			switch {
			case tc.conform != "":
				if !isConform || err.Error() != tc.conform || ce.Kind != tc.kind || ce.Line != tc.line || !errors.Is(err, audit.ErrNonconforming) {
					t.Fatalf("Conform = %v (%#v)\nwant *ConformError %q, kind %d, line %d", err, ce, tc.conform, tc.kind, tc.line)
				}
			case tc.bad != "":
				if err == nil || isConform || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("Conform = %v, want an error containing %q that is not a *ConformError", err, tc.bad)
				}
			case err != nil:
				t.Fatalf("Conform: %v", err)
			default:
				got.Counts = states.Counts{}
				if got != tc.want {
					t.Errorf("Conform = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestConformCounts(t *testing.T) {
	got, err := audit.Conform(strings.NewReader(string(writeChain(t, stepRecords(interleaved)))))
	if err != nil {
		t.Fatal(err)
	}
	c := got.Counts
	for _, tc := range []struct {
		from  states.State
		event states.Event
		want  int
	}{
		{states.Refreshing, states.Succeed, 2},
		{states.Valid, states.RefreshAhead, 1},
		{states.Backoff, states.Retry, 1},
		{states.Valid, states.Reject, 0},
	} {
		if n := c.Count(tc.from, tc.event); n != tc.want {
			t.Errorf("Count(%v, %v) = %d, want %d", tc.from, tc.event, n, tc.want)
		}
	}
	if c.Total() != 7 {
		t.Errorf("Total = %d, want 7", c.Total())
	}
}

// A repaired log holds a note; Conform skips it, and the sessions chain
// across it.
func TestConformSkipsNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	rs := stepRecords(interleaved)
	log := writeChain(t, rs[:3])
	torn := append(append([]byte(nil), log...), `{"seq":4,"time":"20`...)
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Repair(path); err != nil {
		t.Fatal(err)
	}
	w, err := audit.OpenChainFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[3:] {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	got, err := audit.Conform(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Transitions != 7 || got.Notes != 1 || got.Sessions != 2 {
		t.Errorf("Conform = %+v, want 7 transitions, 1 note, 2 sessions", got)
	}
}

// xs reads as an endless run of 'x'.
type xs struct{}

var xBlock = bytes.Repeat([]byte("x"), 64<<10)

func (xs) Read(p []byte) (int, error) { return copy(p, xBlock), nil }

func TestConformLongLine(t *testing.T) {
	long := io.MultiReader(strings.NewReader(`{"seq":1,"session":"`), io.LimitReader(xs{}, 2<<20), strings.NewReader(`","from":"valid","to":"expired","event":"expire"}`))
	_, err := audit.Conform(long)
	if err == nil || !strings.Contains(err.Error(), "line 1: line longer than 1 MiB") {
		t.Errorf("Conform = %v, want line too long", err)
	}
}
