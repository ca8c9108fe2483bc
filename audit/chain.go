package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
// encoding: the exact bytes of the line without its trailing
// `,"hash":"…"` member, that is encoding/json's output for the Record with
// Hash empty (fields in declaration order, times in UTC RFC 3339). Hashing
// the stored bytes rather than a re-encoding means a verifier needs no
// knowledge of the record's fields, and a field added later cannot change
// the hash of old lines.

// hashKey is the member that closes every chained line.
const hashKey = `,"hash":"`

// maxLine bounds one line of a chained log when verifying it.
const maxLine = 1 << 20

// ErrChainBroken is matched (with errors.Is) by every *ChainError.
var ErrChainBroken = errors.New("audit: hash chain broken")

// ChainError reports the first line of a hash-chained log that does not
// verify. Everything before Line verified.
type ChainError struct {
	// Line is the 1-based line number of the first bad line.
	Line int
	// Seq is the sequence number the line should carry (the one after the
	// last good record).
	Seq uint64
	// Reason says what is wrong with the line.
	Reason string
}

// Error implements error.
func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: hash chain broken at line %d (seq %d): %s", e.Line, e.Seq, e.Reason)
}

// Is reports whether target is ErrChainBroken.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// Head identifies the last record of a chain: a writer resumes after it, and
// a verifier returns it. Keep a copy of the head somewhere the log's writer
// cannot change (or sign it): a chain detects any change to its middle, but
// only a trusted head detects a rewritten or truncated tail.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// ChainWriter writes records as hash-chained JSON lines. It is a Sink and is
// safe for concurrent use. It numbers records itself, so several sessions
// may share one chain: a record's Seq, Prev and Hash are overwritten.
type ChainWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	head   Head
	err    error
}

// NewChainWriter returns a writer that appends to w a chain continuing after
// head; pass the zero Head to start a new chain.
func NewChainWriter(w io.Writer, head Head) *ChainWriter {
	return &ChainWriter{w: w, head: head}
}

// OpenChainFile verifies the chained log at path (if it exists) and opens it
// for appending, creating it with mode 0600 when absent. It returns the
// verification error when the existing log is broken, so a writer never
// extends a tampered chain.
func OpenChainFile(path string) (*ChainWriter, error) {
	var head Head
	if f, err := os.Open(path); err == nil {
		head, err = Verify(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	c := NewChainWriter(f, head)
	c.closer = f
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
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
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

// Verify reads a hash-chained log and checks every link: each line's hash
// matches its content, its Prev matches the previous line's hash, and
// sequence numbers count up from 1 without gaps. It returns the head of the
// chain, or a *ChainError for the first line that fails (or an I/O error).
// An empty log verifies, with a zero Head.
func Verify(r io.Reader) (Head, error) {
	br := bufio.NewReader(r)
	var head Head
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			b, err = readLong(br, b)
		}
		if len(b) == 0 && err == io.EOF {
			return head, nil
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return head, &ChainError{Line: line, Seq: head.Seq + 1, Reason: err.Error()}
			}
			return head, fmt.Errorf("audit: reading line %d: %w", line, err)
		}
		next, reason := verifyLine(bytes.TrimSuffix(b, []byte("\n")), head)
		if reason != "" {
			return head, &ChainError{Line: line, Seq: head.Seq + 1, Reason: reason}
		}
		head = next
		if err == io.EOF {
			return head, nil
		}
	}
}

var errLineTooLong = errors.New("line longer than 1 MiB")

// readLong finishes reading a line that did not fit bufio's buffer.
func readLong(br *bufio.Reader, first []byte) ([]byte, error) {
	b := append([]byte(nil), first...)
	for len(b) <= maxLine {
		more, err := br.ReadSlice('\n')
		b = append(b, more...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return b, err
		}
	}
	return nil, errLineTooLong
}

// verifyLine checks one line against the head before it and returns the new
// head, or a reason why the line is bad.
func verifyLine(line []byte, prev Head) (Head, string) {
	i := bytes.LastIndex(line, []byte(hashKey))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return prev, "line has no trailing hash member (not a chained record)"
	}
	h := string(line[i+len(hashKey) : len(line)-2])
	if _, err := hex.DecodeString(h); err != nil || len(h) != 2*sha256.Size {
		return prev, "hash member is not a hex SHA-256"
	}
	body := make([]byte, 0, i+1)
	body = append(append(body, line[:i]...), '}')
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != h {
		return prev, "hash does not match the record (record altered)"
	}
	var link struct {
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
	}
	if err := json.Unmarshal(body, &link); err != nil {
		return prev, "record is not valid JSON"
	}
	if link.Seq != prev.Seq+1 {
		return prev, fmt.Sprintf("seq %d follows seq %d (record removed, reordered or inserted)", link.Seq, prev.Seq)
	}
	if link.Prev != prev.Hash {
		return prev, "prev does not match the previous record's hash (record removed, reordered or inserted)"
	}
	return Head{Seq: link.Seq, Hash: h}, ""
}
