package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
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
	if err := p.error(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: ...") into an *Error.
func syntaxError(file string, err error) *Error {
	return fromProblem(file, yamlwalk.SyntaxProblem(err))
}

// parser walks the YAML tree (yamlwalk.Walker); it keeps the first problem
// and ignores the rest, so that every setter can be written without error
// plumbing.
type parser struct {
	yamlwalk.Walker
	file string
}

// field is one known key of a mapping and what to do with its value.
type field = yamlwalk.Field

// error returns the first problem as an *Error, or nil.
func (p *parser) error() *Error {
	if p.Err == nil {
		return nil
	}
	return fromProblem(p.file, p.Err)
}

func fromProblem(file string, pr *yamlwalk.Problem) *Error {
	return &Error{File: file, Line: pr.Line, Key: pr.Key, Msg: pr.Msg, Kind: pr.Kind}
}
