package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// A log's picture is read in two passes over its file, each holding one
// line at a time, as audit verify reads it: the first finds where its time
// axis starts and ends and numbers its sessions, the second feeds its
// transitions to a sim.LogBuilder. Memory grows with the number of
// sessions, not of records.

// The times a picture can place: nanoseconds since 1970 in an int64, like
// the offsets of its time axis (time.Duration).
var (
	earliestTime = time.Unix(0, math.MinInt64).UTC()
	latestTime   = time.Unix(0, math.MaxInt64).UTC()
)

// errUndrawableTime is matched (with errors.Is) by every *timeError.
var errUndrawableTime = errors.New("audit timeline: a record's time cannot be drawn")

// timeError reports the first record of a log whose time the picture
// cannot place: it has none, it lies outside earliestTime..latestTime, it
// is more than a time.Duration (about 292 years) from another record's, it
// is a simulator offset that is not a duration or is negative, or it is of
// the other kind than the file's first records (times or offsets).
type timeError struct {
	// Line is the 1-based line of the log that holds the record.
	Line int
	// Entry is the record's 1-based position in the trace of a simulator
	// result that holds its whole trace on its line; 0 otherwise.
	Entry int
	// Seq is the record's sequence number, as the record gives it (0 when
	// it gives none).
	Seq uint64
	// Session is the record's session: its name, or the decimal index of a
	// simulator trace's session.
	Session string
	// Reason says what is wrong with the record's time.
	Reason string
}

// Error implements error: "line 2: time 2300-01-01T00:00:00Z is after
// 2262-04-11T23:47:16.854775807Z, the latest the picture can place (seq 2,
// session api)".
func (e *timeError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Entry > 0 {
		where += fmt.Sprintf(", trace entry %d", e.Entry)
	}
	who := "session " + e.Session
	if e.Session == "" {
		who = "unnamed session"
	}
	if e.Seq > 0 {
		who = fmt.Sprintf("seq %d, %s", e.Seq, who)
	}
	return where + ": " + e.Reason + " (" + who + ")"
}

// Is reports whether target is errUndrawableTime.
func (e *timeError) Is(target error) bool { return target == errUndrawableTime }

// logLine is one line of a log: a record (its time absolute, or an offset
// in a simulator's trace line), or a simulator result, with its trace or
// followed by stats.transitions lines of it.
type logLine struct {
	logRecord
	Trace json.RawMessage `json:"trace"`
	Stats *struct {
		Transitions *int `json:"transitions"`
	} `json:"stats"`
}

type logRecord struct {
	Seq     uint64          `json:"seq"`
	Time    *time.Time      `json:"time"`
	At      *string         `json:"at"`
	Session json.RawMessage `json:"session"`
	From    string          `json:"from"`
	To      string          `json:"to"`
	Event   string          `json:"event"`
	Cause   string          `json:"cause"`
	Note    string          `json:"note"`
}

// logKey tells a log's sessions apart: run is the line of the simulator
// result a trace entry belongs to (0 in a runtime log), name the session's
// name or index.
type logKey struct {
	run  int
	name string
}

// logRecordAt is where a record is: its line, its entry in a result line's
// trace (or 0), and the session it belongs to.
type logRecordAt struct {
	line, entry int
	key         logKey
}

// walkLog calls fn with each transition record of a log that audit.Conform
// accepted, in the order of the file.
func walkLog(r io.Reader, fn func(at logRecordAt, rec *logRecord) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	run, owed := 0, 0 // a result line's transition lines still to come
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l logLine
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case owed > 0:
			owed--
			if err := fn(logRecordAt{line: line, key: logKey{run: run}}, &l.logRecord); err != nil {
				return err
			}
		case l.Trace != nil:
			if err := walkTrace(line, l.Trace, fn); err != nil {
				return err
			}
		case l.Stats != nil:
			run, owed = line, 0
			if l.Stats.Transitions != nil {
				owed = *l.Stats.Transitions
			}
		case l.Note != "":
		default:
			if err := fn(logRecordAt{line: line}, &l.logRecord); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// walkTrace calls fn with each entry of the trace of the simulator result
// on line, decoding one at a time.
func walkTrace(line int, trace json.RawMessage, fn func(at logRecordAt, rec *logRecord) error) error {
	dec := json.NewDecoder(bytes.NewReader(trace))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil // null: no entry
	}
	for entry := 1; dec.More(); entry++ {
		var rec logRecord
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("line %d, trace entry %d: %w", line, entry, err)
		}
		if err := fn(logRecordAt{line: line, entry: entry, key: logKey{run: line}}, &rec); err != nil {
			return err
		}
	}
	return nil
}

// timelineLog is what the first pass learns of a log.
type timelineLog struct {
	ids           map[logKey]int // each session's number, in order of its first record
	records       int
	absolute, rel bool
	// first and last are the earliest and the latest time (Unix
	// nanoseconds) or offset, and the records that hold them.
	first, last       int64
	firstAt, lastAt   int
	firstRec, lastRec string // their times as the log gives them
}

// span is the time from the log's earliest record to its latest.
func (lg *timelineLog) span() time.Duration { return time.Duration(lg.last - lg.first) }

// scanLog reads a log's records and returns where its time axis starts
// and ends, and its sessions, or a *timeError for the first record whose
// time the picture cannot place.
func scanLog(r io.Reader) (*timelineLog, error) {
	lg := &timelineLog{ids: map[logKey]int{}}
	err := walkLog(r, func(at logRecordAt, rec *logRecord) error {
		at.key.name = sessionOf(rec)
		if _, ok := lg.ids[at.key]; !ok {
			lg.ids[at.key] = len(lg.ids)
		}
		t, absolute, reason := recordTime(rec)
		if reason == "" && lg.records > 0 && absolute != lg.absolute {
			reason = "the file mixes runtime records (times) and simulator traces (offsets from the start of a run)"
		}
		shown := ""
		if rec.Time != nil {
			shown = rec.Time.Format(time.RFC3339Nano)
		}
		if reason == "" && lg.records > 0 && absolute {
			// Times of int64 nanoseconds are more than a Duration apart when
			// last - first overflows.
			switch {
			case t > lg.last && lg.first < 0 && t > math.MaxInt64+lg.first:
				reason = fmt.Sprintf("time %s is more than 292 years after line %d's %s, longer than the picture's time axis can span", shown, lg.firstAt, lg.firstRec)
			case t < lg.first && t < 0 && lg.last > math.MaxInt64+t:
				reason = fmt.Sprintf("time %s is more than 292 years before line %d's %s, longer than the picture's time axis can span", shown, lg.lastAt, lg.lastRec)
			}
		}
		if reason != "" {
			return &timeError{Line: at.line, Entry: at.entry, Seq: rec.Seq, Session: at.key.name, Reason: reason}
		}
		if lg.records == 0 || t < lg.first {
			lg.first, lg.firstAt, lg.firstRec = t, at.line, shown
		}
		if lg.records == 0 || t > lg.last {
			lg.last, lg.lastAt, lg.lastRec = t, at.line, shown
		}
		lg.absolute = absolute
		lg.records++
		return nil
	})
	return lg, err
}

// recordTime returns a record's time: Unix nanoseconds when absolute, an
// offset from the start of its run otherwise; or why it has none the
// picture can place.
func recordTime(rec *logRecord) (t int64, absolute bool, reason string) {
	switch {
	case rec.Time != nil && !rec.Time.IsZero():
		s := rec.Time.Format(time.RFC3339Nano)
		switch {
		case rec.Time.Before(earliestTime):
			return 0, true, fmt.Sprintf("time %s is before %s, the earliest the picture can place", s, earliestTime.Format(time.RFC3339Nano))
		case rec.Time.After(latestTime):
			return 0, true, fmt.Sprintf("time %s is after %s, the latest the picture can place", s, latestTime.Format(time.RFC3339Nano))
		}
		return rec.Time.UnixNano(), true, ""
	case rec.At != nil:
		d, err := time.ParseDuration(*rec.At)
		switch {
		case err != nil:
			return 0, false, fmt.Sprintf("at %q is not a duration, or longer than %v, the longest the picture can place", *rec.At, time.Duration(math.MaxInt64))
		case d < 0:
			return 0, false, fmt.Sprintf("at %q is before the start of its run", *rec.At)
		}
		return int64(d), false, ""
	}
	return 0, false, "a record without a time"
}

// sessionOf returns a record's session: its name, or a simulator trace's
// session index in decimal.
func sessionOf(rec *logRecord) string {
	name := string(bytes.TrimSpace(rec.Session))
	if s, err := strconv.Unquote(name); err == nil {
		name = s
	}
	return name
}

// drawLog reads the log scanLog read again and feeds its transitions, with
// times from its earliest record, to b.
func drawLog(r io.Reader, lg *timelineLog, b *sim.LogBuilder) error {
	return walkLog(r, func(at logRecordAt, rec *logRecord) error {
		at.key.name = sessionOf(rec)
		t, _, reason := recordTime(rec)
		id, ok := lg.ids[at.key]
		if reason != "" || !ok {
			return fmt.Errorf("line %d: the log changed while it was read", at.line)
		}
		e := sim.LogEntry{At: time.Duration(t - lg.first), Session: id, Cause: rec.Cause}
		var err1, err2, err3 error
		e.From, err1 = states.ParseState(rec.From)
		e.To, err2 = states.ParseState(rec.To)
		e.Event, err3 = states.ParseEvent(rec.Event)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("line %d: %w", at.line, err)
		}
		b.Add(e)
		return nil
	})
}
