// Package yamlwalk is the one set of helpers that read the project's YAML
// files — scenarios (sim), declared sessions (declare) and the agent's
// configuration (agent) — key by key from a yaml.Node tree, so that every
// problem names its line and the dotted path of its key, unknown and
// repeated keys are errors, and the files word their problems alike.
//
// A Walker keeps the first problem of the part it reads (Err) and ignores
// the rest, so that setters need no error plumbing; Settle moves it to
// Errs, for readers that go on to the next independent part (the agent
// reports a problem in each profile). With Redact, messages never quote a
// value of the file, which may be a secret written in the wrong place.
package yamlwalk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kinds of problem, for errors.Is: the errors of sim and declare wrap
// them.
var (
	// ErrSyntax: the file is not well-formed YAML.
	ErrSyntax = errors.New("malformed YAML")
	// ErrUnknownKey: a key the format does not define.
	ErrUnknownKey = errors.New("unknown key")
	// ErrMissing: a required key is absent.
	ErrMissing = errors.New("missing required key")
	// ErrInvalid: a value of the wrong type or out of range.
	ErrInvalid = errors.New("invalid value")
)

// Problem is one thing wrong in a file: its line (0 when it concerns the
// whole file), the dotted path of its key, what is wrong and its kind.
type Problem struct {
	Line int
	Key  string
	Msg  string
	Kind error
}

// Message is how the project's errors about a file read: "pkg: file:line:
// key: msg", without the line when it is 0 and the key when it is empty.
func Message(pkg, file string, line int, key, msg string) string {
	loc := file
	if line > 0 {
		loc += ":" + strconv.Itoa(line)
	}
	if key == "" {
		return pkg + ": " + loc + ": " + msg
	}
	return pkg + ": " + loc + ": " + key + ": " + msg
}

// Walker walks a YAML tree. The zero value quotes values in its messages.
type Walker struct {
	// Redact keeps the file's values out of messages ("the value").
	Redact bool
	// Err is the current part's first problem, or nil.
	Err *Problem
	// Errs are the problems of the parts Settle closed.
	Errs []*Problem
}

// Fail records a problem at n's line unless the part has one already.
func (w *Walker) Fail(n *yaml.Node, key string, kind error, format string, args ...any) {
	if w.Err != nil {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	w.Err = &Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// Settle closes the current part: its problem, if any, moves to Errs.
func (w *Walker) Settle() {
	if w.Err != nil {
		w.Errs = append(w.Errs, w.Err)
		w.Err = nil
	}
}

// Value is how a message shows a value of the file: quoted, or "the
// value" with Redact.
func (w *Walker) Value(s string) string {
	if w.Redact {
		return "the value"
	}
	return strconv.Quote(s)
}

// Describe names a node for a message: "a mapping", "a list", the value
// (or "a single value" with Redact), "nothing".
func (w *Walker) Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if w.Redact {
			return "a single value"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// Field is one known key of a mapping: what to do with its value, whether
// it is required, or, when Refuse is set, the message that refuses it (a
// key that would hold a secret inline; such keys are not listed as
// known).
type Field struct {
	Key      string
	Required bool
	Set      func(n *yaml.Node, key string)
	Refuse   string
}

// Mapping applies fields to the mapping n found at path: unknown and
// repeated keys are problems, and so are missing required ones. It
// returns the keys given, with their key nodes.
func (w *Walker) Mapping(n *yaml.Node, path string, fields []Field) map[string]*yaml.Node {
	return w.mapping(n, path, fields, false)
}

// MappingEach is Mapping for a mapping whose keys are independent parts:
// each key's problem (its own or one in its value) is settled, and the
// next key is read.
func (w *Walker) MappingEach(n *yaml.Node, path string, fields []Field) map[string]*yaml.Node {
	return w.mapping(n, path, fields, true)
}

func (w *Walker) mapping(n *yaml.Node, path string, fields []Field, each bool) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	n = Resolve(n)
	if n.Kind != yaml.MappingNode {
		w.Fail(n, path, ErrInvalid, "want a mapping, got %s", w.Describe(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content) && (each || w.Err == nil); i += 2 {
		if each {
			w.Settle()
		}
		k, v := n.Content[i], n.Content[i+1]
		key := Join(path, k.Value)
		if seen[k.Value] != nil {
			w.Fail(k, key, ErrInvalid, "key given twice")
			break
		}
		seen[k.Value] = k
		f := lookup(fields, k.Value)
		switch {
		case f == nil:
			w.Fail(k, key, ErrUnknownKey, "unknown key (known: %s)", known(fields))
		case f.Refuse != "":
			w.Fail(k, key, ErrInvalid, "%s", f.Refuse)
		default:
			f.Set(ResolveHere(v), key)
		}
	}
	for _, f := range fields {
		if f.Required && seen[f.Key] == nil && w.Err == nil {
			w.Fail(n, Join(path, f.Key), ErrMissing, "required")
		}
	}
	return seen
}

func lookup(fields []Field, key string) *Field {
	for i := range fields {
		if fields[i].Key == key {
			return &fields[i]
		}
	}
	return nil
}

func known(fields []Field) string {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		if f.Refuse == "" {
			names = append(names, f.Key)
		}
	}
	return strings.Join(names, ", ")
}

// Join appends key to the dotted path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Resolve follows aliases, so that anchors work as YAML users expect.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// ResolveHere is Resolve for a value about to be checked: a problem with
// the value as a whole must point at the alias the user wrote, not at the
// anchor somewhere else in the file, so the copy keeps the alias's
// position.
func ResolveHere(n *yaml.Node) *yaml.Node {
	r := Resolve(n)
	if r == n {
		return n
	}
	c := *r
	c.Line, c.Column = n.Line, n.Column
	return &c
}

// KeyNode returns the key node reached from the mapping n through keys, so
// that a check made after parsing can name the line of the key it is
// about; it returns n itself when a key is missing.
func KeyNode(n *yaml.Node, keys ...string) *yaml.Node {
	at := n
	for depth, k := range keys {
		m := Resolve(at)
		if m.Kind != yaml.MappingNode {
			return n
		}
		found := false
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				if depth == len(keys)-1 {
					return m.Content[i]
				}
				at, found = m.Content[i+1], true
				break
			}
		}
		if !found {
			return n
		}
	}
	return n
}

// SyntaxProblem turns a yaml.v3 error ("yaml: line 3: ...") into a
// Problem of kind ErrSyntax at that line.
func SyntaxProblem(err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Problem{Line: line, Msg: msg, Kind: ErrSyntax}
}
