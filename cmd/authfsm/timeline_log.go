package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/authfsm/authfsm/policy"
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
// cannot place: it has none, it lies outside earliestTime..latestTime, or
// it is more than a time.Duration (about 292 years) from another record's.
type timeError struct {
	// Line is the 1-based line of the log that holds the record.
	Line int
	// Seq is the record's sequence number, as the record gives it (0 when
	// it gives none).
	Seq uint64
	// Session is the record's session (audit.Record.Session).
	Session string
	// Reason says what is wrong with the record's time.
	Reason string
}

// Error implements error: "line 2: time 2300-01-01T00:00:00Z is after
// 2262-04-11T23:47:16.854775807Z, the latest the picture can place (seq 2,
// session api)".
func (e *timeError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
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

// logRecord is what the picture reads of an audit record.
type logRecord struct {
	Seq     uint64     `json:"seq"`
	Time    *time.Time `json:"time"`
	Session string     `json:"session"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	Event   string     `json:"event"`
	Cause   string     `json:"cause"`
	Reason  string     `json:"reason"`
	Sent    bool       `json:"sent"`
	Class   string     `json:"class"`
	Note    string     `json:"note"`
}

// walkLog calls fn with each transition record of a log that audit.Conform
// accepted, and its line, in the order of the file.
func walkLog(r io.Reader, fn func(line int, rec *logRecord) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec logRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if rec.Note != "" {
			continue
		}
		if err := fn(line, &rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

// timelineLog is what the first pass learns of a log.
type timelineLog struct {
	ids     map[string]int // each session's number, in order of its first record
	records int
	// first and last are the earliest and the latest time (Unix
	// nanoseconds), and the records that hold them.
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
	lg := &timelineLog{ids: map[string]int{}}
	err := walkLog(r, func(line int, rec *logRecord) error {
		if _, ok := lg.ids[rec.Session]; !ok {
			lg.ids[rec.Session] = len(lg.ids)
		}
		t, reason := recordTime(rec)
		shown := ""
		if rec.Time != nil {
			shown = rec.Time.Format(time.RFC3339Nano)
		}
		if reason == "" && lg.records > 0 {
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
			return &timeError{Line: line, Seq: rec.Seq, Session: rec.Session, Reason: reason}
		}
		if lg.records == 0 || t < lg.first {
			lg.first, lg.firstAt, lg.firstRec = t, line, shown
		}
		if lg.records == 0 || t > lg.last {
			lg.last, lg.lastAt, lg.lastRec = t, line, shown
		}
		lg.records++
		return nil
	})
	return lg, err
}

// recordTime returns a record's time in Unix nanoseconds, or why it has
// none the picture can place.
func recordTime(rec *logRecord) (t int64, reason string) {
	if rec.Time == nil || rec.Time.IsZero() {
		return 0, "a record without a time"
	}
	s := rec.Time.Format(time.RFC3339Nano)
	switch {
	case rec.Time.Before(earliestTime):
		return 0, fmt.Sprintf("time %s is before %s, the earliest the picture can place", s, earliestTime.Format(time.RFC3339Nano))
	case rec.Time.After(latestTime):
		return 0, fmt.Sprintf("time %s is after %s, the latest the picture can place", s, latestTime.Format(time.RFC3339Nano))
	}
	return rec.Time.UnixNano(), ""
}

// drawLog reads the log scanLog read again and feeds its transitions, with
// times from its earliest record, to b.
func drawLog(r io.Reader, lg *timelineLog, b *sim.LogBuilder) error {
	return walkLog(r, func(line int, rec *logRecord) error {
		t, reason := recordTime(rec)
		id, ok := lg.ids[rec.Session]
		if reason != "" || !ok {
			return fmt.Errorf("line %d: the log changed while it was read", line)
		}
		e := sim.LogEntry{At: time.Duration(t - lg.first), Session: id, Cause: rec.Cause, Sent: rec.Sent}
		// A reason or class this version does not know (a newer log's)
		// reads as none: the picture needs only Sent and the known classes.
		e.Reason, _ = states.ParseReason(rec.Reason)
		e.Class, _ = policy.ParseClass(rec.Class)
		var err1, err2, err3 error
		e.From, err1 = states.ParseState(rec.From)
		e.To, err2 = states.ParseState(rec.To)
		e.Event, err3 = states.ParseEvent(rec.Event)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		b.Add(e)
		return nil
	})
}
