package agent

import (
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
)

// cparser walks the configuration's YAML tree (yamlwalk.Walker, which the
// scenario format and the session block use too), keeping the first
// problem of the part it is in (Err); the parts that do not depend on one
// another — the top-level keys, each profile — are settled (Errs) and the
// walk goes on, so that one pass reports a problem in each. Its messages
// never quote a value (Redact).
type cparser struct {
	yamlwalk.Walker
	file, dir string
}

func newParser(file string) *cparser {
	return &cparser{Walker: yamlwalk.Walker{Redact: true}, file: file, dir: filepath.Dir(file)}
}

// fail records a problem; the configuration's have no kind.
func (p *cparser) fail(n *yaml.Node, key, format string, args ...any) {
	p.Fail(n, key, yamlwalk.ErrInvalid, format, args...)
}

// problems returns the problems found, settled, as *ConfigError values.
func (p *cparser) problems() []*ConfigError {
	p.Settle()
	out := make([]*ConfigError, len(p.Errs))
	for i, e := range p.Errs {
		out[i] = &ConfigError{File: p.file, Line: e.Line, Key: e.Key, Msg: e.Msg}
	}
	return out
}

// inline refuses a secret written in the file itself.
func inline(key, instead string) yamlwalk.Field {
	return yamlwalk.Field{Key: key, Refuse: "an inline secret is refused: the configuration file is no place for one; use " + instead}
}

// path reads a file name, relative to the configuration file's directory.
func (p *cparser) path(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var s string
		p.NonEmpty(&s)(n, key)
		if s != "" {
			*dst = p.abs(s)
		}
	}
}

func (p *cparser) abs(s string) string {
	if filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.dir, s)
}

// envVar is what an environment variable's name may be: POSIX's portable
// form.
var envVar = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envName reads the name of an environment variable. A value that cannot
// be one is most likely the secret itself, written where its variable's
// name belongs: it is refused without being quoted.
func (p *cparser) envName(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var s string
		p.NonEmpty(&s)(n, key)
		if s != "" && !envVar.MatchString(s) {
			p.fail(n, key, "want the name of an environment variable (letters, digits and '_'), not the secret itself")
			return
		}
		*dst = s
	}
}
