package agent

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// cparser walks the YAML tree, keeping the first error of the part it is
// in (err); the parts that do not depend on one another — the top-level
// keys, each profile — move their error to errs and the walk goes on, so
// that one pass reports a problem in each. Its messages never quote a
// value.
type cparser struct {
	file, dir string
	err       *ConfigError
	errs      []*ConfigError
}

// settle moves the current part's error, if any, to errs.
func (p *cparser) settle() {
	if p.err != nil {
		p.errs = append(p.errs, p.err)
		p.err = nil
	}
}

func (p *cparser) fail(n *yaml.Node, key, format string, args ...any) {
	if p.err == nil {
		line := 0
		if n != nil {
			line = n.Line
		}
		p.err = &ConfigError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
}

// ckey is a known key: what to do with its value, or, for a key that would
// hold a secret inline, the message that refuses it.
type ckey struct {
	key    string
	set    func(n *yaml.Node, key string)
	refuse string
}

// inline refuses a secret written in the file itself.
func inline(key, instead string) ckey {
	return ckey{key: key, refuse: "an inline secret is refused: the configuration file is no place for one; use " + instead}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping applies keys to the mapping n at path; unknown and repeated keys
// are errors. It returns the keys given, with their key nodes.
func (p *cparser) mapping(n *yaml.Node, path string, keys []ckey) map[string]*yaml.Node {
	return p.mappingOf(n, path, keys, false)
}

// mappingOf is mapping; with each, a key's error (its own or one in its
// value) is settled and the next key is read.
func (p *cparser) mappingOf(n *yaml.Node, path string, keys []ckey, each bool) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping, got %s", describe(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content) && (each || p.err == nil); i += 2 {
		if each {
			p.settle()
		}
		k, v := n.Content[i], resolve(n.Content[i+1])
		key := join(path, k.Value)
		if seen[k.Value] != nil {
			p.fail(k, key, "key given twice")
			break
		}
		seen[k.Value] = k
		i := slices.IndexFunc(keys, func(c ckey) bool { return c.key == k.Value })
		switch {
		case i < 0:
			names := make([]string, 0, len(keys))
			for _, c := range keys {
				if c.refuse == "" {
					names = append(names, c.key)
				}
			}
			p.fail(k, key, "unknown key (known: %s)", strings.Join(names, ", "))
		case keys[i].refuse != "":
			p.fail(k, key, "%s", keys[i].refuse)
		default:
			keys[i].set(v, key)
		}
	}
	return seen
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's kind without its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "nothing"
}

func (p *cparser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, key, "want a single value, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *cparser) text(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if s, ok := p.scalar(n, key); ok {
			if s == "" {
				p.fail(n, key, "empty")
				return
			}
			*dst = s
		}
	}
}

// path reads a file name, relative to the configuration file's directory.
func (p *cparser) path(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var s string
		p.text(&s)(n, key)
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
		p.text(&s)(n, key)
		if s != "" && !envVar.MatchString(s) {
			p.fail(n, key, "want the name of an environment variable (letters, digits and '_'), not the secret itself")
			return
		}
		*dst = s
	}
}

func (p *cparser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		switch {
		case !ok:
		case s == "true":
			*dst = true
		case s == "false":
			*dst = false
		default:
			p.fail(n, key, "want true or false")
		}
	}
}

func (p *cparser) duration(dst *time.Duration, lo, hi time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			p.fail(n, key, "want a Go duration from %v to %v, such as 30s", lo, hi)
			return
		}
		*dst = d
	}
}

func (p *cparser) strings(dst *[]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if n.Kind != yaml.SequenceNode {
			p.fail(n, key, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			var s string
			p.text(&s)(resolve(item), key+"["+strconv.Itoa(i)+"]")
			*dst = append(*dst, s)
		}
	}
}
