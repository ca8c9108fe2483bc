package audit

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Repaired reports what Repair did.
type Repaired struct {
	// Removed is the number of bytes of the torn last line that were cut
	// off; 0 when the log was intact and left alone.
	Removed int64
	// Head is the head of the log afterwards: the note saying what was
	// removed, or the intact log's own head.
	Head Head
}

// Repair removes a torn last line from the chained log at path (see
// ChainError.Torn) and appends a chained note that says how many bytes went,
// so that the cut is on the record and the chain verifies again. A log that
// verifies is left as it is. Any other break, a bad line with lines after
// it or a whole record that does not verify, is what tampering looks like:
// Repair returns its *ChainError and changes nothing. Options are those of
// OpenChainFile; a keyed log needs its key (without it, its first line
// would not verify and nothing would be repaired). Run Repair while no
// writer has the log open.
func Repair(path string, opts ...Option) (Repaired, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Repaired{}, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return Repaired{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	s, err := scan(f, o)
	if err == nil {
		return Repaired{Head: s.head}, nil
	}
	if ce := (*ChainError)(nil); !errors.As(err, &ce) || !ce.Torn {
		return Repaired{}, fmt.Errorf("audit: %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return Repaired{}, fmt.Errorf("audit: %w", err)
	}
	removed := fi.Size() - s.end
	if err := f.Truncate(s.end); err != nil {
		return Repaired{}, fmt.Errorf("audit: %s: removing the torn last line: %w", path, err)
	}
	// A good line before a torn one always ends with its newline (the torn
	// line started after it), so the note starts a line of its own.
	w := &ChainWriter{w: f, head: s.head, opts: o}
	n := Record{Time: time.Now(), Note: fmt.Sprintf("audit log repaired: %d bytes of a torn last line removed", removed)}
	if err := w.Write(n); err != nil {
		return Repaired{}, fmt.Errorf("audit: %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return Repaired{}, fmt.Errorf("audit: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Repaired{}, fmt.Errorf("audit: %s: %w", path, err)
	}
	return Repaired{Removed: removed, Head: w.Head()}, nil
}
