package yamlwalk

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// A setter reads the value n of key into its destination; Field.Set.
type setter = func(n *yaml.Node, key string)

// Scalar returns n's value, or records that n is not a single value.
func (w *Walker) Scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		w.Fail(n, key, ErrInvalid, "want a single value, got %s", w.Describe(n))
		return "", false
	}
	return n.Value, true
}

// Text reads any single value.
func (w *Walker) Text(dst *string) setter {
	return func(n *yaml.Node, key string) {
		if s, ok := w.Scalar(n, key); ok {
			*dst = s
		}
	}
}

// NonEmpty reads a single value that is not empty.
func (w *Walker) NonEmpty(dst *string) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		switch {
		case !ok:
		case s == "":
			w.Fail(n, key, ErrInvalid, "empty")
		default:
			*dst = s
		}
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// Name reads a name: 1 to 100 letters, digits, '-' or '_'.
func (w *Walker) Name(dst *string) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		if ok && !namePattern.MatchString(s) {
			w.Fail(n, key, ErrInvalid, "%s: use 1 to 100 letters, digits, '-' or '_'", w.Value(s))
			return
		}
		*dst = s
	}
}

// Duration reads a Go duration of at least lo and, when hi > 0, at most
// hi.
func (w *Walker) Duration(dst *time.Duration, lo, hi time.Duration) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			w.Fail(n, key, ErrInvalid, "%s is not a Go duration (write e.g. 90s, 1h0m30s)", w.Value(s))
			return
		}
		if d < lo || (hi > 0 && d > hi) {
			end := "∞"
			if hi > 0 {
				end = hi.String()
			}
			w.Fail(n, key, ErrInvalid, "%v is out of range [%v, %s]", d, lo, end)
			return
		}
		*dst = d
	}
}

// Integer reads an integer in [lo, hi]; a quoted one is not an integer.
func (w *Walker) Integer(dst *int, lo, hi int) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil || n.Tag == "!!str" && n.Style != 0 {
			w.Fail(n, key, ErrInvalid, "%s is not an integer", w.Value(s))
			return
		}
		if v < lo || v > hi {
			w.Fail(n, key, ErrInvalid, "%d is out of range [%d, %d]", v, lo, hi)
			return
		}
		*dst = v
	}
}

// Float reads a number in [lo, hi].
func (w *Walker) Float(dst *float64, lo, hi float64) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || v < lo || v > hi {
			w.Fail(n, key, ErrInvalid, "%s is not a number in [%v, %v]", w.Value(s), lo, hi)
			return
		}
		*dst = v
	}
}

// Boolean reads true or false.
func (w *Walker) Boolean(dst *bool) setter {
	return func(n *yaml.Node, key string) {
		s, ok := w.Scalar(n, key)
		switch {
		case !ok:
		case s == "true":
			*dst = true
		case s == "false":
			*dst = false
		default:
			w.Fail(n, key, ErrInvalid, "%s is not true or false", w.Value(s))
		}
	}
}

// List calls each with every item of the sequence n, aliases resolved,
// until a problem is found.
func (w *Walker) List(n *yaml.Node, key string, each func(i int, item *yaml.Node, key string)) {
	if n.Kind != yaml.SequenceNode {
		w.Fail(n, key, ErrInvalid, "want a list, got %s", w.Describe(n))
		return
	}
	for i, item := range n.Content {
		if w.Err != nil {
			return
		}
		each(i, ResolveHere(item), fmt.Sprintf("%s[%d]", key, i))
	}
}

// Strings reads a list of values that are not empty.
func (w *Walker) Strings(dst *[]string) setter {
	return func(n *yaml.Node, key string) {
		w.List(n, key, func(_ int, item *yaml.Node, key string) {
			var s string
			w.NonEmpty(&s)(item, key)
			*dst = append(*dst, s)
		})
	}
}
