package yamlwalk

import (
	"errors"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// TestMapping: unknown, repeated, refused and missing keys are problems
// naming the line and the key; Redact keeps values out of messages.
func TestMapping(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		redact    bool
		want      Problem
	}{
		{"unknown", "a: 1\nb: 2\n", false, Problem{2, "top.b", "unknown key (known: a, d)", ErrUnknownKey}},
		{"repeated", "a: 1\na: 2\n", false, Problem{2, "top.a", "key given twice", ErrInvalid}},
		{"refused", "a: 1\nsecret: x\n", false, Problem{2, "top.secret", "no secrets here", ErrInvalid}},
		{"missing", "d: 1s\n", false, Problem{1, "top.a", "required", ErrMissing}},
		{"bad duration", "a: 1\nd: soon\n", false, Problem{2, "top.d", `"soon" is not a Go duration (write e.g. 90s, 1h0m30s)`, ErrInvalid}},
		{"bad duration, redacted", "a: 1\nd: soon\n", true, Problem{2, "top.d", "the value is not a Go duration (write e.g. 90s, 1h0m30s)", ErrInvalid}},
		{"out of range", "a: 1\nd: 2h\n", true, Problem{2, "top.d", "2h0m0s is out of range [0s, 1h0m0s]", ErrInvalid}},
		{"not a single value, redacted", "a: [x]\n", true, Problem{1, "top.a", "want a single value, got a list", ErrInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Walker{Redact: tc.redact}
			var a string
			var d time.Duration
			w.Mapping(node(t, tc.src), "top", []Field{
				{Key: "a", Required: true, Set: w.Text(&a)},
				{Key: "secret", Refuse: "no secrets here"},
				{Key: "d", Set: w.Duration(&d, 0, time.Hour)},
			})
			if w.Err == nil || *w.Err != tc.want || !errors.Is(w.Err.Kind, tc.want.Kind) {
				t.Errorf("problem %+v, want %+v", w.Err, tc.want)
			}
		})
	}
}

// TestMappingEach: each key of an independent mapping is read, and each
// one's problem is kept.
func TestMappingEach(t *testing.T) {
	var w Walker
	var x, y bool
	w.MappingEach(node(t, "x: maybe\ny: true\nz: 1\n"), "", []Field{{Key: "x", Set: w.Boolean(&x)}, {Key: "y", Set: w.Boolean(&y)}})
	w.Settle()
	if len(w.Errs) != 2 || w.Errs[0].Key != "x" || w.Errs[1].Key != "z" || !y {
		t.Errorf("problems %+v, y %v", w.Errs, y)
	}
}

// TestKeyNodeAndSyntax: a check made after parsing finds its key's line;
// a YAML syntax error keeps its line.
func TestKeyNodeAndSyntax(t *testing.T) {
	n := node(t, "a:\n  b:\n    c: 1\n")
	if k := KeyNode(n, "a", "b", "c"); k.Line != 3 || k.Value != "c" {
		t.Errorf("KeyNode = line %d %q", k.Line, k.Value)
	}
	if k := KeyNode(n, "a", "nope"); k != n {
		t.Error("a missing key does not give the mapping")
	}
	var doc yaml.Node
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &doc)
	if p := SyntaxProblem(err); p.Line == 0 || p.Kind != ErrSyntax {
		t.Errorf("SyntaxProblem(%v) = %+v", err, p)
	}
}
