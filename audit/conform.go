package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/authfsm/authfsm/states"
)

// Conformance, unlike the hash chain, needs no secret and no anchor: it asks
// whether the machine of package states could have written the log at all.
// A forger who rewrites records and recomputes every hash (or edits a log
// that was never chained) still has to tell a story the table allows, and
// Conform finds the first place where he did not.

// ErrNonconforming is matched (with errors.Is) by every *ConformError.
var ErrNonconforming = errors.New("audit: log does not conform to the state machine")

// ConformKind says what a ConformError found impossible.
type ConformKind uint8

const (
	// NotInTable: the record's event does not lead from its From to its To
	// in states.Table.
	NotInTable ConformKind = iota + 1
	// OutOfSequence: the record leaves a state other than the one its
	// session's previous record left the session in.
	OutOfSequence
	// UnknownName: the record names a state or an event the machine does
	// not have.
	UnknownName
)

// ConformError reports the first record of a log that the machine could not
// have written. Everything before it conforms.
type ConformError struct {
	// Line is the 1-based line of the log that holds the record.
	Line int
	// Entry is the record's 1-based position in the trace of a simulator
	// result (a line of `authfsm sim --json --trace`); 0 for a line that is
	// a record.
	Entry int
	// Seq is the record's sequence number, as the record gives it.
	Seq uint64
	// Session is the record's session: Record.Session, or the decimal
	// session index of a simulator trace.
	Session string
	Kind    ConformKind
	// Reason says what is impossible: "valid -refresh-> refreshing is not
	// in the table", "from backoff but the previous record (line 8) left it
	// in valid".
	Reason string
}

// Error implements error: "audit: line 7, session api: valid -refresh->
// refreshing is not in the table".
func (e *ConformError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Entry > 0 {
		where += fmt.Sprintf(", trace entry %d", e.Entry)
	}
	if e.Session == "" {
		where += ", unnamed session"
	} else {
		where += ", session " + e.Session
	}
	return "audit: " + where + ": " + e.Reason
}

// Is reports whether target is ErrNonconforming.
func (e *ConformError) Is(target error) bool { return target == ErrNonconforming }

// Conformance describes a log that conforms.
type Conformance struct {
	// Transitions is the number of transition records checked.
	Transitions int
	// Notes is the number of note records (see Record.Note) skipped.
	Notes int
	// Sessions is the number of sessions the transitions belong to. The
	// sessions of two simulator results are distinct even when their
	// indexes are equal: each result is a run of its own.
	Sessions int
	// Counts says how often each event fired in each state, for the
	// weighted diagrams of package states.
	Counts states.Counts
}

// maxConformLine bounds one line of a log read by Conform. It is far above
// maxLine because one simulator result holds its whole trace on one line.
const maxConformLine = 64 << 20

// Conform reads a log and checks that the machine of package states could
// have written it: every record's event leads from its From to its To in
// states.Table, and each session's records chain, every record leaving the
// state that the session's previous record left it in. The first record of
// a session may leave any state, since a log may begin in the middle of a
// session's life (a rotated log, a session restored from a store). Conform
// does not check hashes, sequence numbers or times: Verify does the first,
// and the others say nothing about the machine.
//
// It reads two kinds of log, line by line, and a log may mix them:
//
//   - a runtime audit log: JSON lines of Record, hash-chained or not (the
//     hash members are ignored). Note records (see Record.Note) are skipped.
//   - simulator results, as `authfsm sim --json --trace` prints them: a
//     result line (a JSON object with "stats") followed by one line per
//     transition of the run, stats.transitions of them, each a record with
//     a numeric session index and offsets for times; or, as earlier
//     versions printed them and sim.Result marshals with Options.Trace, one
//     result per line whose "trace" array holds the run's records.
//
// Blank lines are skipped. Conform returns a *ConformError for the first
// record the machine could not have written, and another error when the
// input is not such a log (a line that is not a JSON object, a record
// without from, to or event, a simulator result without its trace or with
// fewer transition lines than it counts) or cannot be read.
//
// Records of one session are chained in the order of the log, and a
// session is known by its name: a process that recreates a session under
// the same name (a restart, a session.Manager that closed an idle session)
// starts a new life the log does not mark, which shows as a record out of
// sequence unless the new life starts where the old one ended. A simulator
// trace marks them: a process that a crash_holder fault restarted is a new
// session from its first record after the restart (the record's restarts
// count), whose first record may leave any state.
func Conform(r io.Reader) (Conformance, error) {
	c := conformer{last: map[sessionKey]left{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := readLine(br, maxConformLine)
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return c.result(), fmt.Errorf("audit: reading line %d: %w", line, err)
		}
		if err := c.line(line, b); err != nil {
			return c.result(), err
		}
		if err == io.EOF {
			break
		}
	}
	if c.owed > 0 {
		return c.result(), c.short()
	}
	return c.result(), nil
}

// readLine returns the next line with its newline, reading at most limit
// bytes of it; at the end of the input it returns what is left and io.EOF.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return b, err
	}
	long := append([]byte(nil), b...)
	for {
		if len(long) > limit {
			return nil, fmt.Errorf("line longer than %d MiB", limit>>20)
		}
		more, err := br.ReadSlice('\n')
		long = append(long, more...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return long, err
		}
	}
}

// sessionKey tells sessions apart: run is the line of a simulator result
// (0 in a runtime audit log), name the session's name or index, and
// restarts, in a simulator trace, how often its process restarted.
type sessionKey struct {
	run      int
	name     string
	restarts int
}

// left is where a session's last record left it.
type left struct {
	state states.State
	line  int
	entry int
}

type conformer struct {
	last map[sessionKey]left
	conf Conformance
	// run is the line of the simulator result whose transition lines
	// follow; owed is how many of them are still to come, of total.
	run, owed, total int
}

// short is the error of a simulator result followed by fewer transition
// lines than it counts.
func (c *conformer) short() error {
	if c.owed == c.total {
		return fmt.Errorf("audit: line %d is a simulator result without its trace (run authfsm sim with --json --trace)", c.run)
	}
	return fmt.Errorf("audit: line %d: the simulator result counts %d transitions, and only %d lines of them follow (truncated?)", c.run, c.total, c.total-c.owed)
}

func (c *conformer) result() Conformance {
	r := c.conf
	r.Sessions = len(c.last)
	return r
}

// rawRecord is a record as it is decoded before its names are checked: the
// names stay strings so that an unknown one is reported as such, and the
// session is a string in an audit log and a number in a simulator trace.
type rawRecord struct {
	Seq     uint64          `json:"seq"`
	Session json.RawMessage `json:"session"`
	From    *string         `json:"from"`
	To      *string         `json:"to"`
	Event   *string         `json:"event"`
	Note    string          `json:"note"`
	// Restarts is a simulator trace's count of the restarts of the
	// session's process (sim.TraceEntry.Restarts).
	Restarts int `json:"restarts"`
}

// rawLine is one line: a record, or a simulator result, with its trace or
// followed by it.
type rawLine struct {
	rawRecord
	Trace json.RawMessage `json:"trace"`
	Stats *struct {
		Transitions *int `json:"transitions"`
	} `json:"stats"`
}

func (c *conformer) line(line int, b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if b[0] != '{' {
		return fmt.Errorf("audit: line %d is not a JSON object (neither an audit record nor a simulator result)", line)
	}
	var l rawLine
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("audit: line %d: %w", line, err)
	}
	if c.owed > 0 {
		if l.Stats != nil || l.Trace != nil || l.Note != "" {
			return c.short()
		}
		c.owed--
		return c.record(sessionKey{run: c.run}, line, 0, l.rawRecord)
	}
	switch {
	case l.Trace != nil:
		var trace []rawRecord
		if err := json.Unmarshal(l.Trace, &trace); err != nil {
			return fmt.Errorf("audit: line %d: the simulator result's trace: %w", line, err)
		}
		for i, rec := range trace {
			if err := c.record(sessionKey{run: line}, line, i+1, rec); err != nil {
				return err
			}
		}
		return nil
	case l.Stats != nil:
		c.run, c.owed, c.total = line, -1, -1
		if l.Stats.Transitions != nil {
			c.owed, c.total = *l.Stats.Transitions, *l.Stats.Transitions
		}
		if c.owed < 0 {
			c.owed = 0
			return fmt.Errorf("audit: line %d is a simulator result without its trace (run authfsm sim with --json --trace)", line)
		}
		return nil
	case l.Note != "":
		c.conf.Notes++
		return nil
	}
	return c.record(sessionKey{}, line, 0, l.rawRecord)
}

// record checks one transition record of the session run (its name is
// filled in here) at line and, in a simulator trace, entry.
func (c *conformer) record(key sessionKey, line, entry int, rec rawRecord) error {
	where := fmt.Sprintf("line %d", line)
	if entry > 0 {
		where += fmt.Sprintf(", trace entry %d", entry)
	}
	name, err := sessionName(rec.Session)
	if err != nil {
		return fmt.Errorf("audit: %s: %w", where, err)
	}
	key.name, key.restarts = name, rec.Restarts
	for _, f := range []struct {
		name string
		v    *string
	}{{"from", rec.From}, {"to", rec.To}, {"event", rec.Event}} {
		if f.v == nil {
			return fmt.Errorf("audit: %s: not an audit record: no %q", where, f.name)
		}
	}
	bad := func(kind ConformKind, format string, args ...any) error {
		return &ConformError{Line: line, Entry: entry, Seq: rec.Seq, Session: name, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	from, err1 := states.ParseState(*rec.From)
	to, err2 := states.ParseState(*rec.To)
	ev, err3 := states.ParseEvent(*rec.Event)
	switch {
	case err1 != nil:
		return bad(UnknownName, "from %q is not a state of the machine", *rec.From)
	case err2 != nil:
		return bad(UnknownName, "to %q is not a state of the machine", *rec.To)
	case err3 != nil:
		return bad(UnknownName, "event %q is not an event of the machine", *rec.Event)
	}
	if dst, ok := states.Next(from, ev); !ok {
		return bad(NotInTable, "%s -%s-> %s is not in the table (no %s from %s)", from, ev, to, ev, from)
	} else if dst != to {
		return bad(NotInTable, "%s -%s-> %s is not in the table (%s leads from %s to %s)", from, ev, to, ev, from, dst)
	}
	if prev, ok := c.last[key]; ok && prev.state != from {
		at := fmt.Sprintf("line %d", prev.line)
		if prev.entry > 0 {
			at = fmt.Sprintf("trace entry %d", prev.entry)
		}
		return bad(OutOfSequence, "from %s but the previous record (%s) left it in %s", from, at, prev.state)
	}
	c.last[key] = left{state: to, line: line, entry: entry}
	c.conf.Counts.Add(from, ev)
	c.conf.Transitions++
	return nil
}

// sessionName returns a record's session: a JSON string as it is, a number
// (a simulator trace's session index) in decimal, nothing as "".
func sessionName(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("session is neither a name nor an index: %s", raw)
	}
	if _, err := strconv.ParseUint(n.String(), 10, 64); err != nil {
		return "", fmt.Errorf("session index %s is not a whole number", n)
	}
	return n.String(), nil
}
