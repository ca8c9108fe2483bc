package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

const timelineUsage = `usage: authfsm audit timeline --svg OUT FILE

Draws the simulator's timeline picture from FILE, a runtime audit log (JSON
lines of audit records, hash-chained or not) or simulator results (authfsm
sim --json --trace), into the SVG file OUT ("-" for standard output). Time
runs from FILE's first record. With one session the picture has a band per
state and a mark per refresh attempt, coloured by its outcome; with several,
the share of sessions in each state. A log does not record when a token was
usable, which calls failed or when faults began, so those rows are left
out, and each session counts from the start in the state its first record
leaves. Flags may come before or after FILE.

The hash chain is not checked (audit verify does that). A log the machine
could not have written is refused, as audit verify refuses it. A file that
mixes runtime records (times) and simulator traces (offsets from the start
of a run) has no one time axis and is refused too.

  --svg OUT  write the picture to OUT

exit status: 0 drawn, 1 a record is impossible, 2 bad usage, an unreadable
file, or a FILE that is not an audit log
`

// runAuditTimeline implements "authfsm audit timeline": exit 0 when the
// picture is drawn, 1 when a record is impossible, 2 for bad usage, an
// unreadable file or one that is not an audit log.
func runAuditTimeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit timeline", stderr)
	out := fs.String("svg", "", `write the picture to this SVG file ("-": standard output)`)
	path, done, code := auditArgs(fs, timelineUsage, args, stdout, stderr)
	if done {
		return code
	}
	if *out == "" {
		say(stderr, "audit timeline", "--svg OUT is required")
		fmt.Fprint(stderr, timelineUsage)
		return exitBadInput
	}
	conf, code, ok := conformFile("audit timeline", path, stderr)
	if !ok {
		return code
	}
	f, err := os.Open(path)
	if err != nil {
		say(stderr, "audit timeline", "%v", err)
		return exitBadInput
	}
	defer f.Close()
	lg, err := readLog(f)
	if err != nil {
		say(stderr, "audit timeline", "%s: %v", path, err)
		return exitBadInput
	}
	if len(lg.entries) == 0 {
		say(stderr, "audit timeline", "%s: no transition to draw", path)
		return exitBadInput
	}
	tl := sim.LogTimeline(filepath.Base(path), lg.sessions, axisEnd(lg.span), lg.entries)
	picture := sim.TimelineSVG(tl)
	if *out == "-" {
		fmt.Fprint(stdout, picture)
		return exitOK
	}
	if err := os.WriteFile(*out, []byte(picture), 0o644); err != nil {
		say(stderr, "audit timeline", "%v", err)
		return exitBadInput
	}
	fmt.Fprintf(stdout, "%s: %s of %s over %v drawn to %s\n", path, plural(conf.Transitions, "transition"), plural(lg.sessions, "session"), lg.span, *out)
	return exitOK
}

// axisEnd returns where the picture's time axis ends for a log spanning
// span: a little after its last record, on a round value.
func axisEnd(span time.Duration) time.Duration {
	end := span + span/20 + time.Second
	for _, step := range []time.Duration{time.Second, 10 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour} {
		if end/step <= 60 {
			return (end + step - 1) / step * step
		}
	}
	return end
}

// timelineLog is a log's transitions, as sim.LogTimeline takes them, with
// times from its first record.
type timelineLog struct {
	entries  []sim.LogEntry
	sessions int
	span     time.Duration // from the first record to the last
}

// logLine is one line of a log: a record (its time absolute, or an offset
// in a simulator's trace line), or a simulator result with its trace.
type logLine struct {
	logRecord
	Trace []logRecord `json:"trace"`
}

type logRecord struct {
	Time    *time.Time      `json:"time"`
	At      *string         `json:"at"`
	Session json.RawMessage `json:"session"`
	From    string          `json:"from"`
	To      string          `json:"to"`
	Event   string          `json:"event"`
	Cause   string          `json:"cause"`
	Reason  states.Reason   `json:"reason"`
	Sent    bool            `json:"sent"`
	Class   policy.Class    `json:"class"`
	Note    string          `json:"note"`
}

// readLog reads the transitions of a log that audit.Conform accepted:
// runtime records by their time, simulator trace entries by their offset
// (the sessions of each result line apart), each session numbered in order
// of its first record.
func readLog(r io.Reader) (timelineLog, error) {
	type key struct {
		run  int
		name string
	}
	var (
		lg            timelineLog
		ids           = map[key]int{}
		absolute, rel bool
		first, last   int64 // nanoseconds: Unix times or offsets
		seen          bool
	)
	add := func(run, line int, rec logRecord) error {
		name := string(bytes.TrimSpace(rec.Session))
		if s, err := strconv.Unquote(name); err == nil {
			name = s
		}
		k := key{run, name}
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
		}
		e := sim.LogEntry{Session: id, Cause: rec.Cause, Reason: rec.Reason, Sent: rec.Sent, Class: rec.Class}
		var err1, err2, err3 error
		e.From, err1 = states.ParseState(rec.From)
		e.To, err2 = states.ParseState(rec.To)
		e.Event, err3 = states.ParseEvent(rec.Event)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		var at int64
		switch {
		case rec.Time != nil && !rec.Time.IsZero():
			absolute = true
			at = rec.Time.UnixNano()
		case rec.At != nil:
			d, err := time.ParseDuration(*rec.At)
			if err != nil {
				return fmt.Errorf("line %d: at %q is not a duration", line, *rec.At)
			}
			rel = true
			at = int64(d)
		default:
			return fmt.Errorf("line %d: a record without a time", line)
		}
		if absolute && rel {
			return fmt.Errorf("line %d: the file mixes runtime records (times) and simulator traces (offsets from the start of a run)", line)
		}
		if !seen || at < first {
			first = at
		}
		if !seen || at > last {
			last = at
		}
		seen = true
		e.At = time.Duration(at) // made relative below
		lg.entries = append(lg.entries, e)
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l logLine
		if err := json.Unmarshal(b, &l); err != nil {
			return lg, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case l.Trace != nil:
			for _, rec := range l.Trace {
				if err := add(line, line, rec); err != nil {
					return lg, err
				}
			}
		case l.Note != "":
		default:
			if err := add(0, line, l.logRecord); err != nil {
				return lg, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return lg, err
	}
	for i := range lg.entries {
		lg.entries[i].At -= time.Duration(first)
	}
	lg.sessions, lg.span = len(ids), time.Duration(last-first)
	return lg, nil
}
