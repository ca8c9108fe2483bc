package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// ErrEmptyKey is returned when a chain is given an empty HMAC key: such a
// key authenticates nothing, and silently falling back to plain SHA-256
// would hide the mistake.
var ErrEmptyKey = errors.New("audit: empty HMAC key")

// An Option configures how a chain is written, verified or repaired.
type Option func(*options)

type options struct {
	key   []byte
	keyed bool
}

// WithKey keys the chain with an HMAC secret: each line's hash is the hex
// HMAC-SHA256 of its canonical bytes under key instead of their SHA-256, so
// that only a holder of the key can forge a record or recompute a rewritten
// tail. Writer, verifier and repair must use the same key. The key is
// copied; an empty key is refused with ErrEmptyKey.
func WithKey(key []byte) Option {
	key = bytes.Clone(key)
	return func(o *options) { o.key, o.keyed = key, true }
}

// newOptions applies opts and checks the result.
func newOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if o.keyed && len(o.key) == 0 {
		return nil, ErrEmptyKey
	}
	return o, nil
}

// sum returns the hex chain hash of a line's canonical bytes.
func (o *options) sum(body []byte) string {
	if o.keyed {
		m := hmac.New(sha256.New, o.key)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// matches reports whether h is the chain hash of body. With a key the
// comparison takes constant time, as MAC checks should, so that timing does
// not help a forger guess a valid MAC byte by byte.
func (o *options) matches(body []byte, h string) bool {
	return subtle.ConstantTimeCompare([]byte(o.sum(body)), []byte(h)) == 1
}

// mismatch is the reason given for a line whose hash does not match: with
// plain SHA-256 the line may be fine and the log keyed, so it says so.
func (o *options) mismatch() string {
	if o.keyed {
		return "hash does not match the record (record altered, or not the key the log was written with)"
	}
	return "hash does not match the record (record altered, or an HMAC-keyed log verified without its key)"
}

// ReadKeyFile reads an HMAC key from a file, the way `authfsm audit
// --key-file` does, so that a writer and the command agree on the key: the
// file's bytes without one trailing newline ("\n" or "\r\n"). It refuses an
// empty key with ErrEmptyKey. Errors name the file, never its content.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: key file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrEmptyKey, path)
	}
	return b, nil
}
