package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Head identifies the last record of a chain: a writer resumes after it, and
// a verifier returns it. Keep a copy of the head somewhere the log's writer
// cannot change (or sign it): a chain detects any change to its middle, but
// only a trusted head detects a rewritten or truncated tail (see CheckHead).
type Head struct {
	// Seq is the last record's sequence number; 0 for an empty chain.
	Seq uint64 `json:"seq"`
	// Hash is the last record's chain hash, in hex.
	Hash string `json:"hash"`
}

// String returns the head as SEQ:HASH, the form ParseHead reads and
// `authfsm audit verify --head` accepts.
func (h Head) String() string { return strconv.FormatUint(h.Seq, 10) + ":" + h.Hash }

// ParseHead reads an anchored head written as SEQ:HASH (Head.String) or as
// HASH alone, when only the hash was kept; the Seq is then 0, which
// CheckHead takes as "any".
func ParseHead(s string) (Head, error) {
	seq, hash, found := strings.Cut(s, ":")
	if !found {
		hash = s
	}
	var h Head
	if found {
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil || n == 0 {
			return Head{}, fmt.Errorf("audit: head %q: sequence number %q is not a positive integer (want HASH or SEQ:HASH)", s, seq)
		}
		h.Seq = n
	}
	h.Hash = strings.ToLower(hash)
	if _, err := hex.DecodeString(h.Hash); err != nil || len(h.Hash) != 64 {
		return Head{}, fmt.Errorf("audit: head %q: the hash is not 64 hex digits (want HASH or SEQ:HASH)", s)
	}
	return h, nil
}

// ErrHeadMismatch is matched (with errors.Is) by every *HeadError.
var ErrHeadMismatch = errors.New("audit: chain does not end at the anchored head")

// HeadError reports that a chain which verified link by link does not end
// at the head anchored outside it: its tail was cut off, rewritten or
// extended since the head was taken.
type HeadError struct {
	// Got is the head the chain ends at.
	Got Head
	// Anchor is the head it should end at; a zero Seq means only the hash
	// was anchored.
	Anchor Head
}

// Error implements error, saying what differs.
func (e *HeadError) Error() string {
	g, a := e.Got, e.Anchor
	switch {
	case a.Seq != 0 && g.Seq < a.Seq:
		return fmt.Sprintf("audit: chain ends at seq %d, before the anchored head at seq %d: %d records missing from the tail (truncated)", g.Seq, a.Seq, a.Seq-g.Seq)
	case a.Seq != 0 && g.Seq > a.Seq:
		return fmt.Sprintf("audit: chain ends at seq %d, after the anchored head at seq %d: %d records more than anchored (appended since, or a rewritten tail)", g.Seq, a.Seq, g.Seq-a.Seq)
	case a.Seq != 0:
		return fmt.Sprintf("audit: chain ends at seq %d with hash %s, but the anchored head's hash is %s: the tail was rewritten", g.Seq, g.Hash, a.Hash)
	}
	return fmt.Sprintf("audit: chain ends at seq %d with hash %s, not at the anchored hash %s: the tail was truncated, rewritten or extended", g.Seq, g.Hash, a.Hash)
}

// Is reports whether target is ErrHeadMismatch.
func (e *HeadError) Is(target error) bool { return target == ErrHeadMismatch }

// CheckHead returns a *HeadError unless got, the head Verify returned, is
// the anchored head: the same hash and, when anchor.Seq is not 0, the same
// sequence number. A chain only proves its links; this is what detects a
// truncated or rewritten tail, provided the anchor was kept where the log's
// writer cannot change it.
func CheckHead(got, anchor Head) error {
	if got.Hash == anchor.Hash && (anchor.Seq == 0 || got.Seq == anchor.Seq) {
		return nil
	}
	return &HeadError{Got: got, Anchor: anchor}
}
