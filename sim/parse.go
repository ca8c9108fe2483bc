package sim

import "github.com/authfsm/authfsm/internal/yamlwalk"

// MaxFileSize is the size of the largest scenario file Load and Parse
// accept: a scenario is a few dozen lines, and a file a thousand times that
// size is a mistake or an attack.
const MaxFileSize = 1 << 20

// Load reads and parses the scenario file at path; it reads no more than
// MaxFileSize bytes and one byte beyond, whatever the file's size.
func Load(path string) (*Scenario, error) {
	data, pr := yamlwalk.ReadFile(path, MaxFileSize)
	if pr != nil {
		return nil, fromProblem(path, pr)
	}
	return Parse(path, data)
}

// Parse parses and validates a scenario; file names it in errors. Every
// problem is an *Error naming the file and line. A file larger than
// MaxFileSize, or holding a second YAML document (even an empty one after
// "---"), is an error too: the second is not ignored.
func Parse(file string, data []byte) (*Scenario, error) {
	root, pr := yamlwalk.Document(data, MaxFileSize, "scenario")
	switch {
	case pr != nil:
		return nil, fromProblem(file, pr)
	case root == nil:
		return nil, &Error{File: file, Msg: "empty scenario", Kind: ErrMissing}
	}
	p := &parser{file: file}
	sc := defaults()
	sc.File = file
	p.scenario(root, &sc)
	if err := p.error(); err != nil {
		return nil, err
	}
	return &sc, nil
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
