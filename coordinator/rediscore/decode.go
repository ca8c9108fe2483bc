package rediscore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/session"
)

// parseFamily fills f from the family's hash h.
func (c *Coordinator) parseFamily(h map[string]string, f *session.Family) error {
	if s, ok := h[fieldGeneration]; ok {
		g, ok := parseGeneration(s)
		if !ok {
			return c.corrupt(fieldGeneration, "not a generation (a decimal integer)")
		}
		f.Generation = g
	}
	f.Pair = session.Token{
		Access:  session.Secret(h[fieldAccess]),
		Refresh: session.Secret(h[fieldRefresh]),
		Type:    h[fieldType],
		Scope:   h[fieldScope],
	}
	if s := h[fieldExtra]; s != "" {
		var extra map[string]any
		if json.Unmarshal([]byte(s), &extra) != nil {
			return c.corrupt(fieldExtra, "not a JSON object")
		}
		f.Pair = f.Pair.WithExtra(extra)
	}
	var err error
	if f.Pair.Issued, err = c.parseTime(h, fieldIssued); err != nil {
		return err
	}
	if f.Pair.Expiry, err = c.parseTime(h, fieldExpiry); err != nil {
		return err
	}
	holder, hok := h[fieldFlHolder]
	gen, gok := h[fieldFlGen]
	at, aok := h[fieldFlAt]
	if !hok && !gok && !aok {
		return nil
	}
	switch {
	case holder == "":
		return c.corrupt(fieldFlHolder, "missing or empty while the in-flight mark is set")
	case !gok:
		return c.corrupt(fieldFlGen, "missing while the in-flight mark is set")
	case !aok:
		return c.corrupt(fieldFlAt, "missing while the in-flight mark is set")
	}
	g, ok := parseGeneration(gen)
	if !ok {
		return c.corrupt(fieldFlGen, "not a generation (a decimal integer)")
	}
	t, ok := micros(at)
	if !ok {
		return c.corrupt(fieldFlAt, "not a time (microseconds since the epoch)")
	}
	f.InFlight = session.InFlight{Holder: holder, Generation: g, At: t}
	return nil
}

// parseTime reads an RFC 3339 time from h[field]; missing or empty is zero.
func (c *Coordinator) parseTime(h map[string]string, field string) (time.Time, error) {
	s := h[field]
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, c.corrupt(field, "not a time (RFC 3339)")
	}
	return t, nil
}

// CorruptError says that the family's data in Redis holds a value the
// coordinator cannot read. The value itself is not quoted: it may be a
// secret.
type CorruptError struct {
	// Key is the Redis key.
	Key string
	// Field is the hash field; empty when the key itself is wrong.
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("rediscore: %s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("rediscore: %s field %s: %s", e.Key, e.Field, e.Reason)
}

func (c *Coordinator) corrupt(field, reason string) error {
	return &CorruptError{Key: c.keys[0], Field: field, Reason: reason}
}

func (c *Coordinator) unexpected(op string) error {
	return fmt.Errorf("rediscore: %s %s: unexpected reply from the script", op, c.key)
}

// fail wraps an error from Redis with op and the family's key. Should its
// text contain one of secrets (a proxy or a client echoing the command),
// the text is returned with them redacted, and without the chain, which
// would still hold them.
func (c *Coordinator) fail(op string, err error, secrets ...session.Secret) error {
	wrapped := fmt.Errorf("rediscore: %s %s: %w", op, c.key, err)
	msg := wrapped.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s.Reveal(), s.String())
		}
	}
	if clean != msg {
		return errors.New(clean)
	}
	return wrapped
}

// parseGeneration reads a generation as the scripts write it: a decimal
// integer within int64 (HINCRBY's range) without sign or leading zeros.
func parseGeneration(s string) (uint64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return uint64(n), true
}

// micros reads a count of microseconds since the epoch, as now_us writes.
func micros(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(n).UTC(), true
}

// slice is a script's reply as an array.
func slice(v any, err error) ([]any, error) {
	if err != nil {
		return nil, err
	}
	a, ok := v.([]any)
	if !ok {
		return nil, errNotArray
	}
	return a, nil
}

// errNotArray is a script's reply that should be an array and is not.
var errNotArray = errors.New("the script's reply is not an array")

// integer reads a script's number, sent as an integer or as a string.
func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// formatTime writes t for the hash: RFC 3339 with nanoseconds, "" for zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
