package scenariokeys

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

func TestReferenceIsFresh(t *testing.T) {
	want, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(File)
	if err != nil {
		t.Fatalf("%s: %v (run go generate ./docs/scenariokeys)", File, err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run go generate ./docs/scenariokeys", File)
	}
}

// keyPaths returns the dotted path of every key the schema declares,
// "[]" marking the items of a list.
func keyPaths(t *testing.T) []string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(sim.Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			p, _ := v.(map[string]any)
			kp := join(path, k)
			out = append(out, kp)
			walk(kp, p)
			if items, ok := p["items"].(map[string]any); ok {
				walk(kp+"[]", items)
			}
		}
	}
	walk("", doc)
	sort.Strings(out)
	return out
}

// TestReferenceHasEveryKey: each key of the schema has its row, with its
// default when the schema gives one, and nothing else has a row.
func TestReferenceHasEveryKey(t *testing.T) {
	md, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| [^|]+ \\| ([^|]+) \\|").FindAllStringSubmatch(md, -1)
	defaults := map[string]string{}
	var got []string
	for _, r := range rows {
		got = append(got, r[1])
		defaults[r[1]] = strings.TrimSpace(r[2])
	}
	sort.Strings(got)
	want := keyPaths(t)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rows for\n%v\nkeys\n%v", got, want)
	}
	if len(want) < 60 {
		t.Errorf("only %d keys in the schema", len(want))
	}
	for key, def := range map[string]string{
		"name": "required", "seed": "`1`", "session.refresh_ahead": "`5m`", "session.request_timeout": "`10s`",
		"session.policy.kind": "`exponential`", "server.latency": "`50ms`", "share.lease": "`30s`",
		"server.faults[].kind": "required", "expect.max_recovery": "—",
	} {
		if defaults[key] != def {
			t.Errorf("%s: default column %q, want %q", key, defaults[key], def)
		}
	}
}

// TestReferenceExamplesRun: the complete examples the reference shows are
// scenarios the parser accepts.
func TestReferenceExamplesRun(t *testing.T) {
	md, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(md, -1)
	if len(blocks) < 2 {
		t.Fatalf("%d examples", len(blocks))
	}
	for i, b := range blocks {
		if _, err := sim.Parse("example.yaml", []byte(b[1])); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, b[1])
		}
	}
}

// TestRenderRefusesWhatItCannotDescribe: a schema the reference cannot be
// written from gives an *Error naming the place.
func TestRenderRefusesWhatItCannotDescribe(t *testing.T) {
	for _, c := range []struct{ name, schema, pointer string }{
		{"not JSON", `{"properties": `, "/properties"},
		{"not an object", `[1]`, ""},
		{"trailing data", `{"properties": {"a": {"description": "d", "type": "string"}}} {}`, ""},
		{"no properties", `{"description": "d"}`, ""},
		{"a key without a description", `{"properties": {"a": {"type": "string"}}}`, "/properties/a"},
		{"a type it does not know", `{"properties": {"a": {"description": "d", "type": "null"}}}`, "/properties/a"},
		{"a duration without bounds", `{"properties": {"a": {"description": "d", "allOf": [{"$ref": "#/$defs/positiveDuration"}]}}}`, "/properties/a"},
		{"values and their descriptions differ", `{"properties": {"a": {"description": "d", "type": "string", "enum": ["x", "y"], "enumDescriptions": ["x"]}}}`, "/properties/a"},
		{"a nested mapping without descriptions", `{"properties": {"a": {"description": "d", "type": "object", "properties": {"b": {"type": "integer"}}}}}`, "/properties/a/properties/b"},
		{"a key given twice", `{"properties": {"a": {"description": "d", "type": "string"}, "a": {}}}`, "/properties"},
	} {
		_, err := Render([]byte(c.schema))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v, want an *Error", c.name, err)
			continue
		}
		if e.Pointer != c.pointer {
			t.Errorf("%s: %v at %q, want %q", c.name, e, e.Pointer, c.pointer)
		}
	}
	md, err := Render([]byte(`{"properties": {"a": {"description": "d | e", "type": ["string", "integer"], "examples": ["true"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "| `a` | string | — | any text | d \\| e | `\"true\"` |") {
		t.Errorf("a minimal schema renders as\n%s", md)
	}
}
