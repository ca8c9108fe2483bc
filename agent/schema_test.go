package agent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/declare"
)

// These tests hold the agent's schema and its parser to one another, as
// sim's tests do for scenario files, without a list of keys written out a
// third time: the parser's keys are read from its answer to an unknown key,
// its defaults from what it makes of a file that leaves a key out, its
// ranges from where it stops accepting a value. The schema is checked by
// santhosh-tekuri/jsonschema, a validator that passes the
// JSON-Schema-Test-Suite for draft 2020-12, as an editor's would.

const schemaID = "https://raw.githubusercontent.com/authfsm/authfsm/main/agent/schema.json"

var compiled = sync.OnceValues(func() (*jsonschema.Compiler, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(agent.Schema()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c, nil
})

var compiling sync.Mutex

// compileAt compiles the schema at ptr, a JSON pointer ("" for the whole).
func compileAt(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	c, err := compiled()
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	compiling.Lock()
	defer compiling.Unlock()
	s, err := c.Compile(schemaID + "#" + ptr)
	if err != nil {
		t.Fatalf("schema at %q: %v", ptr, err)
	}
	return s
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// A prop is one key the schema declares.
type prop struct {
	path   []string // keys from the top; "[]" an item of a list, "*" a profile
	ptr    string
	schema map[string]any
	parent map[string]any // the object schema that declares it
}

func (p prop) String() string { return strings.Join(p.path, ".") }

type object struct {
	path   []string
	ptr    string
	schema map[string]any
}

// walk returns the mappings the schema describes and the keys it declares:
// properties, the items of lists of mappings, and the values of mappings of
// names (profiles). What allOf, oneOf, if and then name are constraints.
func walk(t testing.TB) (objects []object, props []prop) {
	t.Helper()
	var visit func(path []string, ptr string, s map[string]any)
	visit = func(path []string, ptr string, s map[string]any) {
		objects = append(objects, object{path, ptr, s})
		properties, _ := s["properties"].(map[string]any)
		for _, name := range slices.Sorted(mapsKeys(properties)) {
			ps := properties[name].(map[string]any)
			p := prop{append(slices.Clip(path), name), ptr + "/properties/" + name, ps, s}
			props = append(props, p)
			if _, ok := ps["properties"]; ok {
				visit(p.path, p.ptr, ps)
			}
			if items, ok := ps["items"].(map[string]any); ok && items["properties"] != nil {
				visit(append(slices.Clip(p.path), "[]"), p.ptr+"/items", items)
			}
			if named, ok := ps["additionalProperties"].(map[string]any); ok && named["properties"] != nil {
				visit(append(slices.Clip(p.path), "*"), p.ptr+"/additionalProperties", named)
			}
		}
	}
	visit(nil, "", decodeJSON(t, agent.Schema()))
	return objects, props
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// nest wraps v so that the parser meets it at path.
func nest(path []string, v any) any {
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case "[]":
			v = []any{v}
		case "*":
			v = map[string]any{"p": v}
		default:
			v = map[string]any{path[i]: v}
		}
	}
	return v
}

// parserKey is the key the parser names for path.
func parserKey(path []string) string {
	var b strings.Builder
	for _, k := range path {
		switch {
		case k == "[]":
			b.WriteString("[0]")
		case k == "*":
			b.WriteString(".p")
		case b.Len() > 0:
			b.WriteString("." + k)
		default:
			b.WriteString(k)
		}
	}
	return b.String()
}

func document(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b // JSON is YAML
}

func parse(t testing.TB, v any) (*agent.Config, []*agent.ConfigError) {
	t.Helper()
	c, err := agent.Parse("/etc/authfsm/agent.yaml", document(t, v))
	var out []*agent.ConfigError
	for _, e := range agent.Errors(err) {
		ce, ok := e.(*agent.ConfigError)
		if !ok {
			t.Fatalf("Parse returned %T: %v", e, e)
		}
		out = append(out, ce)
	}
	return c, out
}

// TestSchemaBundlesTheSessionBlock: agent/schema.json names a profile's
// session block by reference to declare's, which the scenario format
// includes too; Schema includes that block, so the two never differ, and
// the duration definitions it uses are the block's.
func TestSchemaBundlesTheSessionBlock(t *testing.T) {
	doc, block := decodeJSON(t, agent.Schema()), decodeJSON(t, declare.Schema())
	if strings.Contains(string(agent.Schema()), declare.SchemaRef) {
		t.Error("Schema still refers to the session block")
	}
	get := func(m map[string]any, keys ...string) any {
		var v any = m
		for _, k := range keys {
			v = v.(map[string]any)[k]
		}
		return v
	}
	session := get(doc, "properties", "profiles", "additionalProperties", "properties", "session").(map[string]any)
	for _, k := range []string{"type", "additionalProperties", "properties"} {
		if !reflect.DeepEqual(session[k], block[k]) {
			t.Errorf("the session block's %s differs from declare's", k)
		}
	}
	if len(session) != 4 || session["description"] == block["description"] || session["description"] == nil {
		t.Errorf("the session block has %d members (want type, additionalProperties, properties and the agent's own description)", len(session))
	}
	defs := doc["$defs"].(map[string]any)
	for name, def := range block["$defs"].(map[string]any) {
		if !reflect.DeepEqual(defs[name], def) {
			t.Errorf("the agent's $defs/%s is not the session block's, which the block refers to", name)
		}
	}
}

// TestSchemaKeysAreTheParsers: for every mapping, the keys the schema
// declares are the parser's known keys, as its answer to an unknown key
// lists them, and the mapping forbids other keys.
func TestSchemaKeysAreTheParsers(t *testing.T) {
	objects, props := walk(t)
	if len(objects) != 12 || len(props) != 80 {
		t.Fatalf("%d mappings and %d keys in the schema", len(objects), len(props))
	}
	for _, o := range objects {
		if o.schema["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", o.ptr)
		}
		_, errs := parse(t, nest(o.path, map[string]any{"zz_unknown": 1}))
		key := parserKey(append(slices.Clip(o.path), "zz_unknown"))
		var e *agent.ConfigError
		for _, ce := range errs {
			if ce.Key == key {
				e = ce
			}
		}
		_, list, ok := strings.Cut(e.Msg, "unknown key (known: ")
		if e == nil || !ok {
			t.Errorf("%s: %v, want an unknown key %s", o.ptr, errs, key)
			continue
		}
		parser := strings.Split(strings.TrimSuffix(list, ")"), ", ")
		slices.Sort(parser)
		declared, _ := o.schema["properties"].(map[string]any)
		if schema := slices.Sorted(mapsKeys(declared)); !slices.Equal(parser, schema) {
			t.Errorf("%s: the parser knows %v, the schema declares %v", parserKey(o.path), parser, schema)
		}
	}
}

// examples returns the schema's complete examples.
func examples(t testing.TB) []any {
	t.Helper()
	ex, _ := decodeJSON(t, agent.Schema())["examples"].([]any)
	if len(ex) == 0 {
		t.Fatal("the schema has no examples")
	}
	return ex
}

// at returns the concrete paths (keys and indexes) of every mapping in v
// that path, which ends in a key, would sit in.
func at(v any, path []string) [][]any {
	var out [][]any
	var rec func(v any, rest []string, got []any)
	rec = func(v any, rest []string, got []any) {
		if len(rest) == 1 {
			if _, ok := v.(map[string]any); ok {
				out = append(out, got)
			}
			return
		}
		switch rest[0] {
		case "[]":
			list, _ := v.([]any)
			for i, item := range list {
				rec(item, rest[1:], append(slices.Clip(got), i))
			}
		case "*":
			m, _ := v.(map[string]any)
			for _, k := range slices.Sorted(mapsKeys(m)) {
				rec(m[k], rest[1:], append(slices.Clip(got), k))
			}
		default:
			if m, ok := v.(map[string]any); ok {
				if next, ok := m[rest[0]]; ok {
					rec(next, rest[1:], append(slices.Clip(got), rest[0]))
				}
			}
		}
	}
	rec(v, path, nil)
	return out
}

func get(v any, path []any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func has(v any, path []any, key string) bool {
	m, _ := get(v, path).(map[string]any)
	_, ok := m[key]
	return ok
}

type remove struct{}

// with returns a copy of v with the value at path replaced by x (taken
// out when x is remove{}).
func with(v any, path []any, x any) any {
	if len(path) == 0 {
		return x
	}
	switch k := path[0].(type) {
	case string:
		m, _ := v.(map[string]any)
		c := make(map[string]any, len(m)+1)
		for key, val := range m {
			c[key] = val
		}
		if _, del := x.(remove); del && len(path) == 1 {
			delete(c, k)
		} else {
			c[k] = with(m[k], path[1:], x)
		}
		return c
	case int:
		l, _ := v.([]any)
		c := slices.Clone(l)
		c[k] = with(c[k], path[1:], x)
		return c
	}
	return v
}

// accepted reports whether the parser accepts v, and the schema.
func accepted(t testing.TB, v any) (parser, schema bool) {
	t.Helper()
	_, errs := parse(t, v)
	return len(errs) == 0, compileAt(t, "").Validate(v) == nil
}

func isLeaf(s map[string]any) bool {
	_, obj := s["properties"]
	_, named := s["additionalProperties"].(map[string]any)
	items, _ := s["items"].(map[string]any)
	_, objItems := items["properties"]
	return !obj && !objItems && !named
}

// TestSchemaExamples: the complete examples parse and validate and use
// every key; each key's own example, put in its place, still does.
func TestSchemaExamples(t *testing.T) {
	ex := examples(t)
	for i, e := range ex {
		if p, s := accepted(t, e); !p || !s {
			_, errs := parse(t, e)
			t.Errorf("example %d: parser accepts %t (%v), schema %t", i, p, errs, s)
		}
	}
	_, props := walk(t)
	for _, p := range props {
		key := p.path[len(p.path)-1]
		var places [][]any
		var where []any
		for _, e := range ex {
			for _, parent := range at(e, p.path) {
				if has(e, parent, key) {
					places = append(places, append(slices.Clip(parent), key))
					where = append(where, e)
				}
			}
		}
		if len(places) == 0 {
			t.Errorf("%s: no complete example uses it", p)
			continue
		}
		if _, ok := p.schema["description"].(string); !ok {
			t.Errorf("%s: no description", p)
		}
		own, _ := p.schema["examples"].([]any)
		if len(own) == 0 {
			if isLeaf(p.schema) {
				t.Errorf("%s: no example", p)
			}
			continue
		}
		ok := false
		for i, place := range places {
			if p, s := accepted(t, with(where[i], place, own[0])); p && s {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: its example %v fits none of the places the complete examples use it", p, own[0])
		}
	}
}

// TestSchemaDefaultsAreTheParsers: a key left out gives the configuration
// the key set to its schema default gives, for every key with a default,
// in a complete example (or with its mapping cut down to its required
// keys).
func TestSchemaDefaultsAreTheParsers(t *testing.T) {
	ex := examples(t)
	_, props := walk(t)
	checked := 0
	for _, p := range props {
		def, ok := p.schema["default"]
		if !ok {
			continue
		}
		if err := compileAt(t, p.ptr).Validate(def); err != nil {
			t.Errorf("%s: its default %v is invalid: %v", p, def, err)
		}
		key := p.path[len(p.path)-1]
		required, _ := p.parent["required"].([]any)
		compared := false
		for _, e := range ex {
			for _, parent := range at(e, p.path) {
				m, _ := get(e, parent).(map[string]any)
				cut := map[string]any{}
				for _, r := range required {
					cut[r.(string)] = m[r.(string)]
				}
				for _, base := range []any{e, with(e, parent, cut)} {
					path := append(slices.Clip(parent), key)
					left, errL := parse(t, with(base, path, remove{}))
					given, errG := parse(t, with(base, path, def))
					if len(errL) > 0 || len(errG) > 0 {
						continue
					}
					compared = true
					if !reflect.DeepEqual(left, given) {
						t.Errorf("%s: left out and set to its default %v, the configurations differ", p, def)
					}
				}
			}
		}
		if !compared {
			t.Errorf("%s: no example lets the default %v be compared with the key left out", p, def)
			continue
		}
		checked++
	}
	// Every key with a default: 16 of the agent's own, 16 of the session
	// block's (reuse_grace has none: a scenario's is its server's).
	if checked != 32 {
		t.Errorf("%d defaults checked, want 32", checked)
	}
}

// probes returns values to try for a leaf: its examples, enum, default and
// bounds, and values of its types.
func probes(p prop) []any {
	var out []any
	for _, k := range []string{"examples", "enum"} {
		if v, ok := p.schema[k].([]any); ok {
			out = append(out, v...)
		}
	}
	for _, k := range []string{"default", "minimum", "maximum", "x-minimum", "x-maximum"} {
		if v, ok := p.schema[k]; ok {
			out = append(out, v)
		}
	}
	types := []any{p.schema["type"]}
	if list, ok := p.schema["type"].([]any); ok {
		types = list
	}
	for _, typ := range types {
		switch typ {
		case "boolean":
			out = append(out, true, false)
		case "integer":
			out = append(out, json.Number("0"), json.Number("1"), json.Number("65536"), json.Number("-1"))
		case "number":
			out = append(out, json.Number("1"), json.Number("1.5"), json.Number("42"))
		case "string":
			out = append(out, "x", "", "127.0.0.1:1", "unix:x.sock", "https://a.example/t", "http://127.0.0.1:1/t", "http://a.example", "ENV_NAME")
		case "array":
			out = append(out, []any{}, []any{"x"}, []any{json.Number("1")})
		}
	}
	return out
}

// TestSchemaAcceptsWhatTheParserAccepts: the schema never rejects a file
// the parser accepts, so that an editor flags nothing the agent reads.
// Each complete example is changed one key at a time, taken out or set to
// values of its type; whenever the parser accepts the result, so must the
// schema. And the other way round for the keys the schema says a value
// of: what it rejects, the parser rejects too.
func TestSchemaAcceptsWhatTheParserAccepts(t *testing.T) {
	_, props := walk(t)
	root := compileAt(t, "")
	tried, parsed, flagged := 0, 0, 0
	for ei, e := range examples(t) {
		for _, p := range props {
			key := p.path[len(p.path)-1]
			for _, parent := range at(e, p.path) {
				values := []any{remove{}}
				// The session block's values are sim's to hold to its
				// parser (sim's schema tests).
				if isLeaf(p.schema) && !slices.Contains(p.path, "session") {
					values = append(values, probes(p)...)
				}
				for _, v := range values {
					changed := with(e, append(slices.Clip(parent), key), v)
					tried++
					if _, errs := parse(t, changed); len(errs) > 0 {
						continue
					}
					parsed++
					if err := root.Validate(changed); err != nil && flagged < 10 {
						flagged++
						t.Errorf("example %d: the parser accepts %s = %v where the schema does not: %v", ei, parserKey(p.path), v, err)
					}
				}
			}
		}
	}
	if parsed < 500 {
		t.Errorf("only %d of %d changed files parse: the probes are off", parsed, tried)
	}
	t.Logf("%d changed files, %d parse", tried, parsed)
}

// TestSchemaRangesAndValuesAreTheParsers: every number and duration of the
// agent's own keys has bounds where the parser stops accepting it; every
// enumeration is what the parser takes.
func TestSchemaRangesAndValuesAreTheParsers(t *testing.T) {
	ex := examples(t)
	_, props := walk(t)
	root := compileAt(t, "")
	checked := 0
	for _, p := range props {
		if slices.Contains(p.path, "session") {
			continue // sim's own tests hold the session block
		}
		var good, bad []any
		duration := false
		switch {
		case p.schema["x-minimum"] != nil:
			// JSON Schema cannot compare durations: their bounds are the
			// parser's alone.
			duration = true
			good = []any{p.schema["x-minimum"], p.schema["x-maximum"]}
			bad = []any{"999ms", "1h0m1s"}
		case p.schema["minimum"] != nil:
			lo, hi := p.schema["minimum"].(json.Number), p.schema["maximum"].(json.Number)
			l, _ := lo.Int64()
			h, _ := hi.Int64()
			good = []any{lo, hi}
			bad = []any{json.Number(fmt.Sprint(l - 1)), json.Number(fmt.Sprint(h + 1))}
		case p.schema["enum"] != nil:
			good = p.schema["enum"].([]any)
			bad = []any{"zz-bogus"}
		default:
			continue
		}
		places := [][]any{}
		var bases []any
		for _, e := range ex {
			for _, parent := range at(e, p.path) {
				places = append(places, append(slices.Clip(parent), p.path[len(p.path)-1]))
				bases = append(bases, e)
			}
		}
		if len(places) == 0 {
			t.Errorf("%s: no example to probe it in", p)
			continue
		}
		checked++
		for _, v := range good {
			ok := false
			for i, place := range places {
				if p, s := accepted(t, with(bases[i], place, v)); p && s {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s = %v: accepted by neither the parser nor the schema in any place", p, v)
			}
		}
		for _, v := range bad {
			for i, place := range places {
				changed := with(bases[i], place, v)
				_, errs := parse(t, changed)
				if !slices.ContainsFunc(errs, func(e *agent.ConfigError) bool { return e.Key == placeKey(place) }) || (!duration && root.Validate(changed) == nil) {
					t.Errorf("%s = %v: parser errors %v, schema accepts %t; want both to refuse it", p, v, errs, root.Validate(changed) == nil)
				}
			}
		}
	}
	if checked != 10 {
		t.Errorf("%d ranges and enumerations checked, want 10 (shutdown_timeout, log_level, auth_style, grant, login.flow, login.timeout, coordinator, db, max_replay_body, max_idle_conns)", checked)
	}
}

// placeKey is the key the parser names for a concrete place.
func placeKey(place []any) string {
	var b strings.Builder
	for _, k := range place {
		switch k := k.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		}
	}
	return b.String()
}

// TestSchemaRefusesInlineSecrets: every key the parser refuses because it
// would hold a secret inline is one the schema rejects too, at every level.
func TestSchemaRefusesInlineSecrets(t *testing.T) {
	root := compileAt(t, "")
	e := examples(t)[0]
	n := 0
	for _, c := range []struct {
		parent []any
		key    string
	}{
		{[]any{"audit"}, "key"},
		{[]any{"profiles", "billing"}, "client_secret"},
		{[]any{"profiles", "billing"}, "private_key"},
		{[]any{"profiles", "billing"}, "client_assertion"},
		{[]any{"profiles", "billing"}, "assertion"},
		{[]any{"profiles", "billing"}, "refresh_token"},
		{[]any{"profiles", "billing"}, "subject_token"},
		{[]any{"profiles", "billing"}, "access_token"},
		{[]any{"profiles", "billing"}, "password"},
		{[]any{"profiles", "platform", "private_key_jwt"}, "key"},
		{[]any{"profiles", "user", "store", "redis"}, "password"},
	} {
		changed := with(e, append(slices.Clip(c.parent), c.key), "hunter2")
		_, errs := parse(t, changed)
		if len(errs) != 1 || !strings.Contains(errs[0].Msg, "an inline secret is refused") {
			t.Errorf("%v.%s: the parser says %v", c.parent, c.key, errs)
		}
		if root.Validate(changed) == nil {
			t.Errorf("%v.%s: the schema accepts an inline secret", c.parent, c.key)
		}
		n++
	}
	var ve *jsonschema.ValidationError
	if err := root.Validate(with(e, []any{"profiles", "billing", "params", "client_secret"}, "hunter2")); !errors.As(err, &ve) {
		t.Errorf("a credential in params: %v", err)
	}
}
