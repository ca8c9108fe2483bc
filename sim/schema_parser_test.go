package sim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/sim"
)

// These tests hold the schema and the parser to one another without a
// list of keys written out a third time: the parser's keys, ranges and
// kinds are read from its own answers (the "known:" list of an unknown
// key, where a value stops being accepted, the "want" list of a bad kind),
// and its defaults from what it makes of a file that leaves a key out.

// A prop is one key the schema declares.
type prop struct {
	path   []string       // keys from the top; "[]" stands for an item of a list
	ptr    string         // JSON pointer of its schema
	schema map[string]any // its schema
	parent map[string]any // the object schema that declares it
}

func (p prop) String() string { return strings.ReplaceAll(strings.Join(p.path, "."), ".[]", "[]") }

// An object is a mapping the schema describes.
type object struct {
	path   []string
	ptr    string
	schema map[string]any
}

// walk returns the mappings and the keys the schema declares: the
// properties of the top level, of every mapping among them and of the
// items of every list of mappings. Properties named inside allOf, if, then
// and else are constraints, not declarations.
func walk(t testing.TB) (objects []object, props []prop) {
	t.Helper()
	var visit func(path []string, ptr string, s map[string]any)
	visit = func(path []string, ptr string, s map[string]any) {
		objects = append(objects, object{path, ptr, s})
		properties, _ := s["properties"].(map[string]any)
		for _, name := range sortedKeys(properties) {
			ps, ok := properties[name].(map[string]any)
			if !ok {
				t.Fatalf("%s/properties/%s is not a schema object", ptr, name)
			}
			p := prop{append(slices.Clip(path), name), ptr + "/properties/" + name, ps, s}
			props = append(props, p)
			if _, ok := ps["properties"]; ok {
				visit(p.path, p.ptr, ps)
			}
			if items, ok := ps["items"].(map[string]any); ok {
				if _, ok := items["properties"]; ok {
					visit(append(slices.Clip(p.path), "[]"), p.ptr+"/items", items)
				}
			}
		}
	}
	visit(nil, "", schemaDoc(t))
	return objects, props
}

// durationKind returns the duration definition a property refers to
// (duration, nonNegativeDuration, positiveDuration), or "".
func durationKind(s map[string]any) string {
	all, _ := s["allOf"].([]any)
	if len(all) == 0 {
		return ""
	}
	ref, _ := all[0].(map[string]any)["$ref"].(string)
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok || !strings.HasSuffix(strings.ToLower(name), "duration") {
		return ""
	}
	return name
}

func isLeaf(s map[string]any) bool {
	_, obj := s["properties"]
	items, _ := s["items"].(map[string]any)
	_, objItems := items["properties"]
	return !obj && !objItems
}

// nest wraps v in the mappings and one-item lists that path names, so that
// the parser meets v first at path.
func nest(path []string, v any) any {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == "[]" {
			v = []any{v}
		} else {
			v = map[string]any{path[i]: v}
		}
	}
	return v
}

// parserKey is the key path the parser names for path, with item 0 for
// each list.
func parserKey(path []string) string {
	var b strings.Builder
	for _, k := range path {
		switch {
		case k == "[]":
			b.WriteString("[0]")
		case b.Len() > 0:
			b.WriteString("." + k)
		default:
			b.WriteString(k)
		}
	}
	return b.String()
}

func parseErr(t testing.TB, data []byte) *sim.Error {
	t.Helper()
	_, err := sim.Parse("probe.json", data)
	if err == nil {
		return nil
	}
	var e *sim.Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse returned %T, not *sim.Error: %v", err, err)
	}
	return e
}

// TestSchemaKeysAreTheParsers: for every mapping, the keys the schema
// declares are the parser's known keys, as its answer to an unknown key
// lists them; and every mapping forbids other keys.
func TestSchemaKeysAreTheParsers(t *testing.T) {
	objects, _ := walk(t)
	if len(objects) != 11 {
		t.Fatalf("only %d mappings in the schema", len(objects))
	}
	for _, o := range objects {
		if o.schema["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", o.ptr)
		}
		doc := document(t, nest(o.path, map[string]any{"zz_unknown": 1}))
		e := parseErr(t, doc)
		want := parserKey(append(slices.Clip(o.path), "zz_unknown"))
		if e == nil || !errors.Is(e, sim.ErrUnknownKey) || e.Key != want {
			t.Errorf("%s: Parse(%s) = %v, want an unknown key %s", o.ptr, doc, e, want)
			continue
		}
		_, list, ok := strings.Cut(e.Msg, "(known: ")
		if !ok {
			t.Errorf("%s: no known list in %q", o.ptr, e.Msg)
			continue
		}
		parser := strings.Split(strings.TrimSuffix(list, ")"), ", ")
		slices.Sort(parser)
		declared, _ := o.schema["properties"].(map[string]any)
		schema := sortedKeys(declared)
		if !slices.Equal(parser, schema) {
			t.Errorf("%s: the parser knows %v, the schema declares %v", parserKey(o.path), parser, schema)
		}
	}
}

// setterRejects reports whether e is the parser refusing the value of key
// itself (its type or range), rather than something else about the file.
func setterRejects(e *sim.Error, key string) bool {
	if e == nil || e.Key != key || !errors.Is(e, sim.ErrInvalid) {
		return false
	}
	for _, s := range []string{"is out of range", "is not a number in", "is not a non-negative integer", "is not an integer", "is not a Go duration"} {
		if strings.Contains(e.Msg, s) {
			return true
		}
	}
	return false
}

// TestSchemaRangesAreTheParsers: every number and duration has bounds in
// the schema (minimum and maximum, or x-minimum and x-maximum for a
// duration, which JSON Schema cannot compare), and they are where the
// parser stops accepting the value.
func TestSchemaRangesAreTheParsers(t *testing.T) {
	_, props := walk(t)
	checked := 0
	for _, p := range props {
		var lo, hi, below, above any
		switch typ := p.schema["type"]; {
		case durationKind(p.schema) != "":
			minS, ok1 := p.schema["x-minimum"].(string)
			maxS, ok2 := p.schema["x-maximum"].(string)
			dlo, err1 := time.ParseDuration(minS)
			dhi, err2 := time.ParseDuration(maxS)
			if !ok1 || !ok2 || err1 != nil || err2 != nil {
				t.Errorf("%s: a duration without x-minimum and x-maximum", p)
				continue
			}
			lo, hi, below, above = dlo.String(), dhi.String(), (dlo - 1).String(), (dhi + 1).String()
			d := compileAt(t, p.ptr)
			for _, v := range []any{lo, hi} {
				zero := v == "0s"
				if err := d.Validate(v); (err == nil) != (!zero || durationKind(p.schema) != "positiveDuration") {
					t.Errorf("%s: the schema's answer to its own bound %v: %v", p, v, err)
				}
			}
			if dlo == 0 && d.Validate(below) == nil {
				t.Errorf("%s: the schema accepts %v, below its minimum", p, below)
			}
		case typ == "integer", typ == "number":
			nlo, ok1 := p.schema["minimum"].(json.Number)
			nhi, ok2 := p.schema["maximum"].(json.Number)
			if !ok1 || !ok2 {
				t.Errorf("%s: a number without minimum and maximum", p)
				continue
			}
			step := big.NewRat(1, 1)
			if typ == "number" {
				step = big.NewRat(1, 1000)
			}
			rlo, _ := new(big.Rat).SetString(string(nlo))
			rhi, _ := new(big.Rat).SetString(string(nhi))
			num := func(r *big.Rat) json.Number {
				if r.IsInt() {
					return json.Number(r.Num().String())
				}
				return json.Number(r.FloatString(3))
			}
			lo, hi = nlo, nhi
			below, above = num(new(big.Rat).Sub(rlo, step)), num(new(big.Rat).Add(rhi, step))
			n := compileAt(t, p.ptr)
			if n.Validate(lo) != nil || n.Validate(hi) != nil || n.Validate(below) == nil || n.Validate(above) == nil {
				t.Errorf("%s: the schema does not hold to its own bounds", p)
			}
		default:
			continue
		}
		checked++
		parent, key := p.path[:len(p.path)-1], parserKey(p.path)
		for _, c := range []struct {
			v      any
			reject bool
		}{{lo, false}, {hi, false}, {below, true}, {above, true}} {
			doc := document(t, nest(parent, map[string]any{p.path[len(p.path)-1]: c.v}))
			if e := parseErr(t, doc); setterRejects(e, key) != c.reject {
				t.Errorf("%s = %v: want rejected %t, Parse says %v", p, c.v, c.reject, e)
			}
		}
	}
	if checked < 35 {
		t.Errorf("only %d numbers and durations checked", checked)
	}
}

// enumOf returns the values a property, or each item of a list property,
// takes, and a bad value to probe the parser with.
func enumOf(p prop) (values []any, bad any) {
	if e, ok := p.schema["enum"].([]any); ok {
		return e, "zz-bogus"
	}
	if items, ok := p.schema["items"].(map[string]any); ok {
		if e, ok := items["enum"].([]any); ok {
			return e, []any{"zz-bogus"}
		}
	}
	return nil, nil
}

// TestSchemaEnumsAreTheParsers: every set of kinds, jitters and states in
// the schema is the list the parser's answer to a bad value gives, and each
// value has a description where the schema describes values.
func TestSchemaEnumsAreTheParsers(t *testing.T) {
	_, props := walk(t)
	checked := 0
	for _, p := range props {
		values, bad := enumOf(p)
		if values == nil {
			continue
		}
		checked++
		if d, ok := p.schema["enumDescriptions"].([]any); ok && len(d) != len(values) {
			t.Errorf("%s: %d values, %d descriptions", p, len(values), len(d))
		}
		doc := document(t, nest(p.path, bad))
		e := parseErr(t, doc)
		if e == nil || !errors.Is(e, sim.ErrInvalid) {
			t.Errorf("%s: Parse(%s) = %v, want an invalid value", p, doc, e)
			continue
		}
		i := strings.LastIndex(e.Msg, "want ")
		if i < 0 {
			t.Errorf("%s: no want list in %q", p, e.Msg)
			continue
		}
		list, _, _ := strings.Cut(e.Msg[i+len("want "):], ")")
		parser := strings.Split(strings.ReplaceAll(list, " or ", ", "), ", ")
		schema := make([]string, len(values))
		for i, v := range values {
			schema[i] = fmt.Sprint(v)
		}
		slices.Sort(parser)
		slices.Sort(schema)
		if !slices.Equal(parser, schema) {
			t.Errorf("%s: the parser wants %v, the schema has %v", p, parser, schema)
		}
	}
	if checked != 9 {
		t.Errorf("%d enumerations checked, want 9 (5 kinds, jitter, fleet.login, final_state, never_states)", checked)
	}
}

// examples returns the schema's complete example scenarios.
func examples(t testing.TB) []any {
	t.Helper()
	ex, _ := schemaDoc(t)["examples"].([]any)
	if len(ex) == 0 {
		t.Fatal("the schema has no examples")
	}
	return ex
}

// at returns the concrete paths (keys and list indexes) in v of every
// mapping that path, which ends in a key, would sit in.
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
		if rest[0] == "[]" {
			list, _ := v.([]any)
			for i, item := range list {
				rec(item, rest[1:], append(slices.Clip(got), i))
			}
			return
		}
		if m, ok := v.(map[string]any); ok {
			if next, ok := m[rest[0]]; ok {
				rec(next, rest[1:], append(slices.Clip(got), rest[0]))
			}
		}
	}
	rec(v, path, nil)
	return out
}

// get returns the value at path in v, or nil.
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

// has reports whether the mapping at path in v holds key.
func has(v any, path []any, key string) bool {
	m, _ := get(v, path).(map[string]any)
	_, ok := m[key]
	return ok
}

// remove is a marker for with: take the key out.
type remove struct{}

// with returns a copy of v with the value at path replaced by x (taken
// out when x is remove{}); v itself is not changed.
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
		if k >= len(l) {
			return v
		}
		c := slices.Clone(l)
		c[k] = with(c[k], path[1:], x)
		return c
	}
	return v // paths hold keys and indexes only
}

// accepted reports whether the parser accepts v and whether the schema
// does.
func accepted(t testing.TB, v any) (parser, schema bool) {
	t.Helper()
	_, err := sim.Parse("probe.json", document(t, v))
	return err == nil, compileAt(t, "").Validate(v) == nil
}

// TestSchemaExamples: the complete examples parse and validate and use
// every key; each key's own example, put in their place, still does.
func TestSchemaExamples(t *testing.T) {
	ex := examples(t)
	for i, e := range ex {
		if p, s := accepted(t, e); !p || !s {
			_, err := sim.Parse("example.json", document(t, e))
			t.Errorf("example %d: parser accepts %t (%v), schema %t", i, p, err, s)
		}
	}
	_, props := walk(t)
	for _, p := range props {
		var places [][]any
		var where []any
		for _, e := range ex {
			for _, parent := range at(e, p.path) {
				key := append(slices.Clip(parent), p.path[len(p.path)-1])
				if has(e, parent, p.path[len(p.path)-1]) {
					places = append(places, key)
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
		if err := compileAt(t, p.ptr).Validate(own[0]); err != nil {
			t.Errorf("%s: its example %v is invalid: %v", p, own[0], err)
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

// TestSchemaDefaultsAreTheParsers: a key left out gives the scenario that
// the key set to its schema default gives, for every key with a default,
// in a complete example (or, when the example's other keys need the key
// there, with its mapping cut down to the required keys); the keys the
// parser defaults to a value that is not constant have none.
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
					name, _ := r.(string)
					cut[name] = m[name]
				}
				for _, base := range []any{e, with(e, parent, cut)} {
					path := append(slices.Clip(parent), key)
					left, errL := sim.Parse("d.json", document(t, with(base, path, remove{})))
					given, errG := sim.Parse("d.json", document(t, with(base, path, def)))
					if errL != nil || errG != nil {
						continue
					}
					compared = true
					if !reflect.DeepEqual(left, given) {
						t.Errorf("%s: left out gives\n%+v\nset to its default %v gives\n%+v", p, *left, def, *given)
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
	// Every optional key the parser gives a value that does not depend on
	// the rest of the file: 34 of them (session.reuse_grace is the
	// server's token.reuse_grace when left out, so it has none).
	if checked != 34 {
		t.Errorf("%d defaults checked, want 34", checked)
	}
}

// probes returns values to try for a leaf property: its examples, enum,
// default and bounds, and values of its type; with spellings, durations in
// the spellings the parser reads.
func probes(p prop, spellings bool) []any {
	var out []any
	if ex, ok := p.schema["examples"].([]any); ok {
		out = append(out, ex...)
	}
	if values, _ := enumOf(p); values != nil {
		if _, list := p.schema["items"]; list {
			for _, v := range values {
				out = append(out, []any{v})
			}
			out = append(out, []any{})
		} else {
			out = append(out, values...)
		}
	}
	for _, k := range []string{"default", "minimum", "maximum", "x-minimum", "x-maximum"} {
		if v, ok := p.schema[k]; ok {
			out = append(out, v)
		}
	}
	switch typ := p.schema["type"]; {
	case durationKind(p.schema) != "" && spellings:
		out = append(out, json.Number("0"), "-0", "0s", "-0s", "1ns", "1\u00b5s", "1\u03bcs", "1us", ".5s", "1.s", "1h0m30s", "25h", "-1s")
	case typ == "boolean":
		out = append(out, true, false)
	case typ == "integer":
		for _, n := range []string{"0", "1", "300", "400", "599", "1000"} {
			out = append(out, json.Number(n))
		}
	case typ == "number":
		out = append(out, json.Number("1"), json.Number("1.5"), json.Number("2"), json.Number("100"))
	}
	return out
}

// TestSchemaAcceptsWhatTheParserAccepts: the schema never rejects a file
// the parser accepts, so that an editor flags nothing that runs. Each
// complete example is changed one key at a time: taken out, put in, and set
// to values of its type in the spellings the parser reads; each scenario of
// the library loses one key at a time. Whenever the parser accepts the
// result, so must the schema.
func TestSchemaAcceptsWhatTheParserAccepts(t *testing.T) {
	type base struct {
		name string
		v    any
		full bool // every probe, not only taking keys out
	}
	var bases []base
	for i, e := range examples(t) {
		bases = append(bases, base{fmt.Sprintf("example %d", i), e, true})
	}
	files, _ := scenarioSources(t)
	for _, name := range sortedKeys(files) {
		v, err := yamlValue(files[name])
		if err != nil {
			t.Fatal(err)
		}
		// The complete examples probe descriptions; here one only costs
		// time.
		bases = append(bases, base{name, with(v, []any{"description"}, remove{}), false})
	}
	_, props := walk(t)
	root := compileAt(t, "")
	tried, parsed, flagged := 0, 0, 0
	for _, b := range bases {
		for _, p := range props {
			key := p.path[len(p.path)-1]
			for i, parent := range at(b.v, p.path) {
				var values []any
				if has(b.v, parent, key) {
					values = append(values, remove{})
				}
				if b.full && isLeaf(p.schema) {
					// Spellings on the first item of a list only: the
					// others add time, not cases.
					values = append(values, probes(p, i == 0)...)
				}
				for _, v := range values {
					changed := with(b.v, append(slices.Clip(parent), key), v)
					tried++
					if _, err := sim.Parse("probe.json", document(t, changed)); err != nil {
						continue
					}
					parsed++
					if err := root.Validate(changed); err != nil && flagged < 10 {
						flagged++
						t.Errorf("%s: the parser accepts %s = %v where the schema does not:\n%s\n%v", b.name, p, v, document(t, changed), err)
					}
				}
			}
		}
	}
	if parsed < 1500 {
		t.Errorf("only %d of %d changed files parse: the probes are off", parsed, tried)
	}
	t.Logf("%d changed files, %d parse", tried, parsed)
}

// TestSchemaDurationSyntax: a string is a duration to the schema exactly
// when time.ParseDuration reads it, and the signs of the schema's kinds of
// duration are the values'; checked on every short string of the
// characters durations are made of.
func TestSchemaDurationSyntax(t *testing.T) {
	defs := map[string]func(time.Duration) bool{
		"duration":            func(time.Duration) bool { return true },
		"zeroDuration":        func(d time.Duration) bool { return d == 0 },
		"nonNegativeDuration": func(d time.Duration) bool { return d >= 0 },
		"positiveDuration":    func(d time.Duration) bool { return d > 0 },
	}
	schemas := map[string]interface{ Validate(any) error }{}
	for name := range defs {
		schemas[name] = compileAt(t, "/$defs/"+name)
	}
	check := func(s string) {
		d, err := time.ParseDuration(s)
		if err == nil && d == 0 && strings.ContainsAny(s, "123456789") {
			// ParseDuration drops what is below a nanosecond, so 0.5ns is
			// zero to it; to the schema, a duration with a digit other
			// than 0 is not zero (TestSchemaKnownDifferences).
			d = time.Nanosecond
			if strings.HasPrefix(s, "-") {
				d = -d
			}
		}
		for name, want := range defs {
			if got := schemas[name].Validate(s) == nil; got != (err == nil && want(d)) {
				t.Errorf("%s %q: schema accepts %t, ParseDuration says %v, %v", name, s, got, d, err)
			}
		}
	}
	for _, s := range []string{"", "0", "+0", "-0", "00", "0s", "-0s", ".0s", "0.s", ".s", "s", "1", "1h", "1h30", "1h30m",
		"1.5h", "-1.5h", "+.5m", "1h0m30s", "1\u00b5s", "1\u03bcs", "1us", "1ns", "1ms", "1 s", "1S", "1d", "1hh", "1.2.3s", "2562047h"} {
		check(s)
	}
	chars := []rune("0123456789.+-hmsnu\u00b5\u03bc")
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := 1 + r.IntN(7)
		s := make([]rune, n)
		for i := range s {
			s[i] = chars[r.IntN(len(chars))]
		}
		check(string(s))
	}
	if schemas["duration"].Validate(json.Number("0")) != nil || schemas["positiveDuration"].Validate(json.Number("0")) == nil ||
		schemas["duration"].Validate(json.Number("60")) == nil {
		t.Error("a bare 0 is the one number that is a duration, and it is zero")
	}
}

// TestSchemaBoundsParse: a number's bounds, as the schema (and so
// scenario-keys.md) gives them, are values Parse takes where the complete
// examples use the key, not only values its first check of the key lets
// through (the schema gave status 100 to 599 while Parse refused a status
// below 300). Left out are the relations the schema leaves to sim
// (docs/SCENARIOS.md): durations, whose longest a window's relation to the
// run's length refuses, and the fleet's counts, bounded by one another.
func TestSchemaBoundsParse(t *testing.T) {
	related := map[string]bool{"fleet.sessions": true, "fleet.families": true, "fleet.without_token": true}
	ex := examples(t)
	_, props := walk(t)
	checked := 0
	for _, p := range props {
		if typ := p.schema["type"]; typ != "integer" && typ != "number" || related[p.String()] {
			continue
		}
		key := p.path[len(p.path)-1]
		for _, bound := range []string{"minimum", "maximum"} {
			v, ok := p.schema[bound].(json.Number)
			if !ok {
				continue
			}
			for i, e := range ex {
				for _, parent := range at(e, p.path) {
					if !has(e, parent, key) {
						continue
					}
					checked++
					doc := with(e, append(slices.Clip(parent), key), v)
					if parser, schema := accepted(t, doc); !parser || !schema {
						_, err := sim.Parse("probe.json", document(t, doc))
						t.Errorf("%s = %s (its %s) in example %d: parser accepts %t (%v), schema %t", p, v, bound, i, parser, err, schema)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d bounds checked", checked)
	}
}
