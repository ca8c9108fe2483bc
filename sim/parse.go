package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the size of the largest scenario file Load and Parse
// accept: a scenario is a few dozen lines, and a file a thousand times that
// size is a mistake or an attack.
const MaxFileSize = 1 << 20

// Load reads and parses the scenario file at path; it reads no more than
// MaxFileSize bytes and one byte beyond, whatever the file's size.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + unwrapPathError(err), Kind: ErrInvalid}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + unwrapPathError(err), Kind: ErrInvalid}
	}
	return Parse(path, data)
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse parses and validates a scenario; file names it in errors. Every
// problem is an *Error naming the file and line. A file larger than
// MaxFileSize, or holding a second YAML document (even an empty one after
// "---"), is an error too: the second is not ignored.
func Parse(file string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d MiB: not a scenario file", MaxFileSize>>20), Kind: ErrInvalid}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, syntaxError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Error{File: file, Msg: "empty scenario", Kind: ErrMissing}
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return nil, &Error{File: file, Line: second.Line, Msg: "a second YAML document: a scenario file holds one", Kind: ErrInvalid}
	case err != io.EOF:
		e := syntaxError(file, err)
		e.Msg = "a second YAML document, and not valid YAML: " + e.Msg
		return nil, e
	}
	p := &parser{file: file}
	sc := defaults()
	sc.File = file
	p.scenario(doc.Content[0], &sc)
	if p.err != nil {
		return nil, p.err
	}
	return &sc, nil
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Error{File: file, Line: line, Msg: msg, Kind: ErrSyntax}
}

// parser walks the YAML tree; it keeps the first error and ignores the rest,
// so that every setter can be written without error plumbing.
type parser struct {
	file string
	err  *Error
}

func (p *parser) fail(n *yaml.Node, key string, kind error, format string, args ...any) {
	if p.err == nil {
		p.err = &Error{File: p.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...), Kind: kind}
	}
}

// field is one known key of a mapping and what to do with its value.
type field struct {
	key      string
	required bool
	set      func(n *yaml.Node, key string)
}

// mapping applies fields to the mapping n found at path; unknown and
// duplicated keys are errors, and so are missing required ones.
func (p *parser) mapping(n *yaml.Node, path string, fields []field) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, ErrInvalid, "want a mapping, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content) && p.err == nil; i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if seen[k.Value] {
			p.fail(k, key, ErrInvalid, "key given twice")
			return
		}
		seen[k.Value] = true
		f := lookup(fields, k.Value)
		if f == nil {
			p.fail(k, key, ErrUnknownKey, "unknown key (known: %s)", known(fields))
			return
		}
		f.set(resolveHere(v), key)
	}
	for _, f := range fields {
		if f.required && !seen[f.key] && p.err == nil {
			p.fail(n, join(path, f.key), ErrMissing, "required")
		}
	}
}

func lookup(fields []field, key string) *field {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i]
		}
	}
	return nil
}

func known(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
	}
	return strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// resolve follows aliases, so that anchors work as YAML users expect.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// resolveHere is resolve for a value about to be checked: an error about
// the value as a whole must point at the alias the user wrote, not at the
// anchor somewhere else in the file, so the copy keeps the alias's position.
func resolveHere(n *yaml.Node) *yaml.Node {
	r := resolve(n)
	if r == n {
		return n
	}
	c := *r
	c.Line, c.Column = n.Line, n.Column
	return &c
}

// keyNode returns the key node reached from the mapping n through keys, so
// that a check made after parsing can name the line of the key it is about;
// it returns n itself when a key is missing.
func keyNode(n *yaml.Node, keys ...string) *yaml.Node {
	at := n
	for depth, k := range keys {
		m := resolve(at)
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

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, key, ErrInvalid, "want a single value, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// duration parses a Go duration string at least lo (and at most hi when hi > 0).
func (p *parser) duration(dst *time.Duration, lo, hi time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.fail(n, key, ErrInvalid, "%q is not a Go duration (write e.g. 90s, 1h0m30s)", s)
			return
		}
		if d < lo || (hi > 0 && d > hi) {
			p.fail(n, key, ErrInvalid, "%v is out of range [%v, %v]", d, lo, rangeEnd(hi))
			return
		}
		*dst = d
	}
}

func rangeEnd(hi time.Duration) string {
	if hi <= 0 {
		return "∞"
	}
	return hi.String()
}

// integer parses an integer in [lo, hi].
func (p *parser) integer(dst *int, lo, hi int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil || n.Tag == "!!str" && n.Style != 0 {
			p.fail(n, key, ErrInvalid, "%q is not an integer", s)
			return
		}
		if v < lo || v > hi {
			p.fail(n, key, ErrInvalid, "%d is out of range [%d, %d]", v, lo, hi)
			return
		}
		*dst = v
	}
}

func (p *parser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		switch s {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			p.fail(n, key, ErrInvalid, "%q is not true or false", s)
		}
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

func (p *parser) name(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if ok && !namePattern.MatchString(s) {
			p.fail(n, key, ErrInvalid, "%q: use 1 to 100 letters, digits, '-' or '_'", s)
			return
		}
		*dst = s
	}
}

func (p *parser) text(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if s, ok := p.scalar(n, key); ok {
			*dst = s
		}
	}
}

// list calls each for every item of the sequence n.
func (p *parser) list(n *yaml.Node, key string, each func(i int, item *yaml.Node, key string)) {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, key, ErrInvalid, "want a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		if p.err != nil {
			return
		}
		each(i, resolveHere(item), fmt.Sprintf("%s[%d]", key, i))
	}
}
