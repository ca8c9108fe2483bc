package audit

import (
	"context"
	"log/slog"
	"sync"

	"github.com/authfsm/authfsm/states"
)

// A Sink receives audit records. Write must be safe for concurrent use, must
// not retain r beyond the call, and should return quickly: the session calls
// it while it holds its state lock, so that records leave in order.
type Sink interface {
	Write(r Record) error
}

// SinkFunc adapts a function to the Sink interface.
type SinkFunc func(Record) error

// Write calls f(r).
func (f SinkFunc) Write(r Record) error { return f(r) }

// Discard is a Sink that drops every record.
var Discard Sink = SinkFunc(func(Record) error { return nil })

// Multi returns a Sink that writes each record to every sink in order and
// returns the first error (after trying them all).
func Multi(sinks ...Sink) Sink {
	return SinkFunc(func(r Record) error {
		var first error
		for _, s := range sinks {
			if err := s.Write(r); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// SlogSink logs each record as one structured log line.
type SlogSink struct {
	logger *slog.Logger
	level  slog.Level
}

// NewSlogSink returns a Sink that logs records to l (slog.Default() when nil)
// at level Info, with the message "auth session transition".
func NewSlogSink(l *slog.Logger) *SlogSink {
	if l == nil {
		l = slog.Default()
	}
	return &SlogSink{logger: l, level: slog.LevelInfo}
}

// WithLevel returns a copy of s that logs at level.
func (s *SlogSink) WithLevel(level slog.Level) *SlogSink {
	c := *s
	c.level = level
	return &c
}

// Write implements Sink.
func (s *SlogSink) Write(r Record) error {
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.Uint64("seq", r.Seq),
		slog.String("from", r.From.String()),
		slog.String("to", r.To.String()),
		slog.String("event", r.Event.String()),
	)
	if r.Session != "" {
		attrs = append(attrs, slog.String("session", r.Session))
	}
	if r.Cause != "" {
		attrs = append(attrs, slog.String("cause", r.Cause))
	}
	if r.Reason != states.ReasonNone {
		attrs = append(attrs, slog.String("reason", r.Reason.String()))
	}
	if r.Sent {
		attrs = append(attrs, slog.String("class", r.Class.String()))
	}
	if r.Attempt != 0 {
		attrs = append(attrs, slog.Int("attempt", r.Attempt))
	}
	if !r.NextAt.IsZero() {
		attrs = append(attrs, slog.Time("next_at", r.NextAt))
	}
	if r.Token != "" {
		attrs = append(attrs, slog.String("token", r.Token))
	}
	// The record's own time is the transition's instant on the session's
	// clock, which differs from the log line's time under a mock clock.
	attrs = append(attrs, slog.Time("at", r.Time))
	s.logger.LogAttrs(context.Background(), s.level, "auth session transition", attrs...)
	return nil
}

// Memory is a Sink that keeps records in memory, for tests and health pages.
type Memory struct {
	mu      sync.Mutex
	records []Record
}

// Write implements Sink.
func (m *Memory) Write(r Record) error {
	m.mu.Lock()
	m.records = append(m.records, r)
	m.mu.Unlock()
	return nil
}

// Records returns a copy of the records written so far.
func (m *Memory) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.records...)
}
