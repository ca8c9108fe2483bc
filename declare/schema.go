package declare

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"sync"
)

//go:embed schema.json
var schema []byte

// SchemaRef is the $id of the session block's JSON Schema (Schema), by
// which the schemas of the scenario format (sim/schema.json) and of the
// agent's configuration (agent/schema.json) name it.
const SchemaRef = "https://raw.githubusercontent.com/authfsm/authfsm/main/declare/schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the session block:
// every key ParseNode accepts, with its meaning, default, range and an
// example, and no other key. It checks each value on its own; relations
// between values and the ranges of durations are ParseNode's. The caller
// owns the returned slice.
func Schema() []byte { return bytes.Clone(schema) }

// SchemaWith returns what the Schema function of package pkg, whose own
// schema is doc, returns: doc with the session block included
// (IncludeSchema), computed once, a copy for each call. It panics, naming
// pkg, when doc does not include the block, which pkg's tests catch.
func SchemaWith(pkg string, doc []byte) func() []byte {
	included := sync.OnceValue(func() []byte {
		b, err := IncludeSchema(doc)
		if err != nil {
			panic(pkg + ": schema.json: " + err.Error())
		}
		return b
	})
	return func() []byte { return bytes.Clone(included()) }
}

// IncludeSchema returns doc, a JSON Schema that names the session block by
// a member {"$ref": SchemaRef} of one of its objects, with the block's
// schema written in that object instead of the reference (its own members,
// a description first, are kept), so that doc stands alone. The block's
// references to "#/$defs/NAME" must find the same definitions in doc. The
// result is indented by two spaces, as the schemas of this repository are.
func IncludeSchema(doc []byte) ([]byte, error) {
	block, err := members(schema)
	if err != nil {
		return nil, errors.New("declare: schema.json: " + err.Error())
	}
	var own struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	var host struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &own); err != nil {
		return nil, errors.New("declare: schema.json: " + err.Error())
	}
	if err := json.Unmarshal(doc, &host); err != nil {
		return nil, errors.New("declare: including the session block: " + err.Error())
	}
	for _, name := range defRefs.FindAllSubmatch(schema, -1) {
		n := string(name[1])
		if !jsonEqual(own.Defs[n], host.Defs[n]) {
			return nil, errors.New("declare: including the session block: the schema's $defs/" + n + " is not the session block's")
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, errors.New("declare: including the session block: " + err.Error())
	}
	ref, _ := json.Marshal(SchemaRef)
	marker := append([]byte(`"$ref":`), ref...)
	c := compact.Bytes()
	at := bytes.Index(c, marker)
	if at < 0 || bytes.Count(c, marker) != 1 {
		return nil, errors.New("declare: including the session block: the schema does not refer to " + SchemaRef + " once")
	}
	// The object that holds the reference: from the last '{' before it that
	// is not closed before it (members of the object come first).
	start, end, err := enclosing(c, at)
	if err != nil {
		return nil, errors.New("declare: including the session block: " + err.Error())
	}
	mine, err := members(c[start:end])
	if err != nil {
		return nil, errors.New("declare: including the session block: " + err.Error())
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	write := func(m member) {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	for _, m := range mine {
		if m.key != "$ref" {
			write(m)
		}
	}
	for _, m := range block {
		switch m.key {
		case "$schema", "$id", "$comment", "title", "description", "examples", "$defs":
		default:
			write(m)
		}
	}
	b.WriteByte('}')
	joined := append(append(append([]byte(nil), c[:start]...), b.Bytes()...), c[end:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "  "); err != nil {
		return nil, errors.New("declare: including the session block: " + err.Error())
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// defRefs finds the block's references to definitions.
var defRefs = regexp.MustCompile(`"#/\$defs/([A-Za-z0-9_]+)"`)

// jsonEqual reports whether a and b are the same JSON value, however they
// are written.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return a != nil && b != nil && json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// enclosing returns the bounds [start, end) of the innermost JSON object of
// the compact document c that holds offset at.
func enclosing(c []byte, at int) (start, end int, err error) {
	var stack []int
	inString, escaped := false, false
	for i, ch := range c {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{':
			stack = append(stack, i)
		case ch == '}':
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if open < at && i > at {
				return open, i + 1, nil
			}
		}
	}
	return 0, 0, errors.New("no object holds the reference")
}

// A member is one key of a JSON object and its value, as written.
type member struct {
	key   string
	value json.RawMessage
}

// members returns the members of the JSON object obj, in order.
func members(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: t.(string), value: v})
	}
	return out, nil
}
