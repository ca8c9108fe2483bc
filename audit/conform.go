package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
	// Seq is the record's sequence number, as the record gives it.
	Seq uint64
	// Session is the record's session (Record.Session).
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
	// Sessions is the number of sessions the transitions belong to, each
	// restart of a process (Record.Restarts) counting as a session.
	Sessions int
	// Counts says how often each event fired in each state, for the
	// weighted diagrams of package diagram.
	Counts states.Counts
}

// Conform reads a log and checks that the machine of package states could
// have written it: every record's event leads from its From to its To in
// states.Table, and each session's records chain, every record leaving the
// state that the session's previous record left it in. The first record of
// a session may leave any state, since a log may begin in the middle of a
// session's life (a rotated log, a session restored from a store). Conform
// does not check hashes, sequence numbers or times: Verify does the first,
// and the others say nothing about the machine.
//
// It reads a log of Records as JSON lines, hash-chained or not (the hash
// members are ignored): a runtime's audit log (session.WithAudit), or a
// simulator's trace, which is the same record stream on a virtual clock.
// Note records (see Record.Note) are skipped, and so are blank lines.
// Conform returns a *ConformError for the first record the machine could
// not have written, and another error when the input is not such a log (a
// line that is not a JSON object, a record without from, to or event, a
// session that is not a string) or cannot be read.
//
// Records of one session are chained in the order of the log, and a
// session is known by its name: a process that recreates a session under
// the same name (a restart, a session.Manager that closed an idle session)
// starts a new life the log does not mark, which shows as a record out of
// sequence unless the new life starts where the old one ended. A log that
// marks them (Record.Restarts, as the simulator's trace does for a process
// that a crash_holder fault restarted) has a new session from the first
// record after each restart, whose first record may leave any state.
func Conform(r io.Reader) (Conformance, error) {
	c := conformer{last: map[sessionKey]left{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := readLine(br, maxLine)
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

// sessionKey tells sessions apart: name is the record's session, and
// restarts how often its process had restarted (Record.Restarts), each
// restart starting a new session.
type sessionKey struct {
	name     string
	restarts int
}

// left is where a session's last record left it.
type left struct {
	state states.State
	line  int
}

type conformer struct {
	last map[sessionKey]left
	conf Conformance
}

func (c *conformer) result() Conformance {
	r := c.conf
	r.Sessions = len(c.last)
	return r
}

// rawRecord is a record as it is decoded before its names are checked: the
// names stay strings so that an unknown one is reported as such.
type rawRecord struct {
	Seq     uint64  `json:"seq"`
	Session *string `json:"session"`
	From    *string `json:"from"`
	To      *string `json:"to"`
	Event   *string `json:"event"`
	Note    string  `json:"note"`
	// Restarts counts the restarts of the session's process before the
	// record (Record.Restarts).
	Restarts int `json:"restarts"`
}

func (c *conformer) line(line int, b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if b[0] != '{' {
		return fmt.Errorf("audit: line %d is not a JSON object (not an audit record)", line)
	}
	var rec rawRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "session" {
			return fmt.Errorf("audit: line %d: session is not a name: %s", line, te.Value)
		}
		return fmt.Errorf("audit: line %d: %w", line, err)
	}
	if rec.Note != "" {
		c.conf.Notes++
		return nil
	}
	return c.record(line, rec)
}

// record checks the transition record at line.
func (c *conformer) record(line int, rec rawRecord) error {
	for _, f := range []struct {
		name string
		v    *string
	}{{"from", rec.From}, {"to", rec.To}, {"event", rec.Event}} {
		if f.v == nil {
			return fmt.Errorf("audit: line %d: not an audit record: no %q", line, f.name)
		}
	}
	var name string
	if rec.Session != nil {
		name = *rec.Session
	}
	bad := func(kind ConformKind, format string, args ...any) error {
		return &ConformError{Line: line, Seq: rec.Seq, Session: name, Kind: kind, Reason: fmt.Sprintf(format, args...)}
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
	key := sessionKey{name: name, restarts: rec.Restarts}
	if prev, ok := c.last[key]; ok && prev.state != from {
		return bad(OutOfSequence, "from %s but the previous record (line %d) left it in %s", from, prev.line, prev.state)
	}
	c.last[key] = left{state: to, line: line}
	c.conf.Counts.Add(from, ev)
	c.conf.Transitions++
	return nil
}
