package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// The chain format: one JSON object per line, each a Record with Seq
// numbered from 1, Prev holding the previous line's Hash (absent on the first
// line) and Hash last. Hash is the hex SHA-256 of the line's canonical
// encoding (or, in a keyed chain, its hex HMAC-SHA256 under the key; see
// WithKey): the exact bytes of the line without its trailing
// `,"hash":"…"` member, that is encoding/json's output for the Record with
// Hash empty (fields in declaration order, times in UTC RFC 3339). Hashing
// the stored bytes rather than a re-encoding means a verifier needs no
// knowledge of the record's fields, and a field added later cannot change
// the hash of old lines.

// hashKey is the member that closes every chained line.
const hashKey = `,"hash":"`

// maxLine bounds one line of a chained log when verifying it.
const maxLine = 1 << 20

// ChainWriter writes records as hash-chained JSON lines. It is a Sink and is
// safe for concurrent use. It numbers records itself, so several sessions
// may share one chain: a record's Seq, Prev and Hash are overwritten.
type ChainWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	head   Head
	opts   *options
	err    error
}

// NewChainWriter returns a writer that appends to w a chain continuing after
// head; pass the zero Head to start a new chain. With WithKey the chain is
// keyed. Invalid options (an empty key) make every Write fail with the
// reason, so that no record is written unkeyed by mistake.
func NewChainWriter(w io.Writer, head Head, opts ...Option) *ChainWriter {
	o, err := newOptions(opts)
	if err != nil {
		return &ChainWriter{w: w, head: head, opts: &options{}, err: err}
	}
	return &ChainWriter{w: w, head: head, opts: o}
}

// OpenChainFile verifies the chained log at path (if it exists) and opens it
// for appending, creating it with mode 0600 when absent. It returns the
// verification error when the existing log is broken, so a writer never
// extends a tampered chain; when the break is a torn last line (see
// ChainError.Torn) the error says so and names the repair, which it never
// performs itself: removing bytes from an audit log is an operator's call.
// A last record that verifies but lacks its newline (the crash came just
// before it) gets the newline before the next record. Options are those of
// NewChainWriter; a keyed log must be opened with its key.
func OpenChainFile(path string, opts ...Option) (*ChainWriter, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	// One descriptor for verifying and appending, so the file verified is
	// the file extended. O_APPEND affects writes only; reads start at 0.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	s, err := scan(f, o)
	if err != nil {
		f.Close()
		if ce := (*ChainError)(nil); errors.As(err, &ce) && ce.Torn {
			return nil, fmt.Errorf("audit: %s: %w; `authfsm audit repair %s` (or audit.Repair) removes a torn last line", path, err, path)
		}
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	if !s.newline {
		if _, err := f.Write([]byte("\n")); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %s: ending the last line: %w", path, err)
		}
	}
	c := &ChainWriter{w: f, closer: f, head: s.head, opts: o}
	return c, nil
}

// Write implements Sink: it chains r to the previous record and writes it as
// one line. After a write error every later Write returns that error, since
// a gap would break the chain anyway.
func (c *ChainWriter) Write(r Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	r.Seq, r.Prev, r.Hash = c.head.Seq+1, c.head.Hash, ""
	r.Time = r.Time.UTC()
	if !r.NextAt.IsZero() {
		r.NextAt = r.NextAt.UTC()
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: encoding record %d: %w", r.Seq, err)
	}
	h := c.opts.sum(body)
	line := make([]byte, 0, len(body)+len(hashKey)+len(h)+3)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashKey...)
	line = append(line, h...)
	line = append(line, "\"}\n"...)
	if _, err := c.w.Write(line); err != nil {
		c.err = fmt.Errorf("audit: writing record %d: %w", r.Seq, err)
		return c.err
	}
	c.head = Head{Seq: r.Seq, Hash: h}
	return nil
}

// Head returns the head of the chain written so far.
func (c *ChainWriter) Head() Head {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.head
}

// Close closes the file opened by OpenChainFile; it does nothing for a
// writer made by NewChainWriter.
func (c *ChainWriter) Close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer.Close()
}
