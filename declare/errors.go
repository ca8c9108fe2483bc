package declare

import "github.com/authfsm/authfsm/internal/yamlwalk"

// Kinds of problem wrapped by *Error, for errors.Is; package sim's errors
// wrap the same ones.
var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = yamlwalk.ErrSyntax
	// ErrUnknownKey: a key the session block does not define.
	ErrUnknownKey = yamlwalk.ErrUnknownKey
	// ErrMissing: a required key is absent.
	ErrMissing = yamlwalk.ErrMissing
	// ErrInvalid: a value of the wrong type or out of range.
	ErrInvalid = yamlwalk.ErrInvalid
)

// Error is a problem in a declared session, located by file and line.
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

// Error formats the problem as "declare: file:line: key: message".
func (e *Error) Error() string { return yamlwalk.Message("declare", e.File, e.Line, e.Key, e.Msg) }

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }

func fromProblem(file string, p *yamlwalk.Problem) *Error {
	return &Error{File: file, Line: p.Line, Key: p.Key, Msg: p.Msg, Kind: p.Kind}
}
