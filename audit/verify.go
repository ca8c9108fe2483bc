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
)

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
	// Torn reports that the bad line is the log's last, lacks its newline
	// and is not a whole record: the mark of a write cut short by a crash,
	// which Repair removes. A bad line anywhere else, or a whole record
	// that does not verify, is never torn.
	Torn bool
}

// Error implements error.
func (e *ChainError) Error() string {
	s := fmt.Sprintf("audit: hash chain broken at line %d (seq %d): %s", e.Line, e.Seq, e.Reason)
	if e.Torn {
		s += "; it is a torn last line (a write cut short)"
	}
	return s
}

// Is reports whether target is ErrChainBroken.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// Verify reads a hash-chained log and checks every link: each line's hash
// matches its content, its Prev matches the previous line's hash, and
// sequence numbers count up from 1 without gaps. It returns the head of the
// chain, or a *ChainError for the first line that fails (or an I/O error).
// An empty log verifies, with a zero Head. A keyed log (see WithKey) must
// be verified with its key: without it, or with another key, the first line
// fails because its hash does not match.
func Verify(r io.Reader, opts ...Option) (Head, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Head{}, err
	}
	s, err := scan(r, o)
	return s.head, err
}

// scanned is what scan learned about a log.
type scanned struct {
	// head is the last good record.
	head Head
	// end is the length in bytes of the good prefix: every line up to and
	// including head's, with its newline when it has one.
	end int64
	// newline is false when the good prefix is not empty and its last line
	// lacks the newline that ends every line a ChainWriter writes.
	newline bool
}

// scan verifies a log like Verify and also reports where its good prefix
// ends, which OpenChainFile and Repair need to append after it.
func scan(r io.Reader, o *options) (scanned, error) {
	br := bufio.NewReader(r)
	s := scanned{newline: true}
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			b, err = readLong(br, b)
		}
		if len(b) == 0 && err == io.EOF {
			return s, nil
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return s, &ChainError{Line: line, Seq: s.head.Seq + 1, Reason: err.Error()}
			}
			return s, fmt.Errorf("audit: reading line %d: %w", line, err)
		}
		last := err == io.EOF // no newline follows b
		next, reason, whole := verifyLine(bytes.TrimSuffix(b, []byte("\n")), s.head, o)
		if reason != "" {
			return s, &ChainError{Line: line, Seq: s.head.Seq + 1, Reason: reason, Torn: last && !whole}
		}
		s.head, s.end, s.newline = next, s.end+int64(len(b)), !last
		if last {
			return s, nil
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
// head, or a reason why the line is bad. whole reports whether the line
// ends in a well-formed hash member, that is, whether it is a whole record
// rather than the prefix of one: a write cut short cannot leave that ending,
// since encoding/json escapes every quote inside a value.
func verifyLine(line []byte, prev Head, o *options) (next Head, reason string, whole bool) {
	i := bytes.LastIndex(line, []byte(hashKey))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return prev, "line has no trailing hash member (not a chained record)", false
	}
	h := string(line[i+len(hashKey) : len(line)-2])
	if _, err := hex.DecodeString(h); err != nil || len(h) != 2*sha256.Size {
		return prev, "hash member is not a hex SHA-256", true
	}
	body := make([]byte, 0, i+1)
	body = append(append(body, line[:i]...), '}')
	if !o.matches(body, h) {
		return prev, o.mismatch(), true
	}
	var link struct {
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
	}
	if err := json.Unmarshal(body, &link); err != nil {
		return prev, "record is not valid JSON", true
	}
	if link.Seq != prev.Seq+1 {
		return prev, fmt.Sprintf("seq %d follows seq %d (record removed, reordered or inserted)", link.Seq, prev.Seq), true
	}
	if link.Prev != prev.Hash {
		return prev, "prev does not match the previous record's hash (record removed, reordered or inserted)", true
	}
	return Head{Seq: link.Seq, Hash: h}, "", true
}
