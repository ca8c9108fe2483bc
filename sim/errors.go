package sim

import (
	"fmt"

	"github.com/authfsm/authfsm/declare"
)

// Sentinel errors wrapped by *Error, for errors.Is: declare's, which a
// problem in the session block is.
var (
	// ErrSyntax is returned by Parse when the file is not well-formed YAML.
	ErrSyntax = declare.ErrSyntax
	// ErrUnknownKey is returned by Parse for a key the format does not define.
	ErrUnknownKey = declare.ErrUnknownKey
	// ErrMissing is returned by Parse when a required key is absent.
	ErrMissing = declare.ErrMissing
	// ErrInvalid is returned by Parse for a value of the wrong type or out of range.
	ErrInvalid = declare.ErrInvalid
)

// Error is a problem in a scenario file, located by file and line.
type Error struct {
	File string
	Line int // 0 when the problem concerns the whole file
	// Key is the dotted path of the offending key ("session.policy.kind").
	Key string
	// Msg says what is wrong.
	Msg string
	// Kind is one of ErrSyntax, ErrUnknownKey, ErrMissing, ErrInvalid.
	Kind error
}

// Error formats the problem as "sim: file:line: key: message".
func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("sim: %s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("sim: %s: %s: %s", loc, e.Key, e.Msg)
}

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }
