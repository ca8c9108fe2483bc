package sim

import (
	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/internal/yamlwalk"
)

// The kinds of *Error, for errors.Is, are declare's: a scenario's session
// block is a declared session. Parse returns ErrSyntax for a file that is
// not well-formed YAML, ErrUnknownKey for a key the format does not
// define, ErrMissing for a required key left out, ErrInvalid for a value
// of the wrong type or out of range.
var (
	ErrSyntax, ErrUnknownKey, ErrMissing, ErrInvalid = declare.ErrSyntax, declare.ErrUnknownKey, declare.ErrMissing, declare.ErrInvalid
)

// Error is a problem in a scenario file, located by file, line and key:
// the fields of declare.Error, which a problem in the scenario's session
// block is too, reported as the simulator's.
type Error declare.Error

// Error formats the problem as "sim: file:line: key: message".
func (e *Error) Error() string { return yamlwalk.Message("sim", e.File, e.Line, e.Key, e.Msg) }

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }
