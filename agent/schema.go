package agent

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"sync"

	"github.com/authfsm/authfsm/sim"
)

//go:embed schema.json
var schemaSource []byte

// SessionSchemaRef is how agent/schema.json names a profile's session
// block: the scenario format's, in sim/schema.json.
const SessionSchemaRef = "https://raw.githubusercontent.com/authfsm/authfsm/main/sim/schema.json#/properties/session"

// Schema returns the JSON Schema (draft 2020-12) of the agent's
// configuration file: every key Parse accepts, at every level, with its
// meaning, default, range and an example, and no other key; the keys that
// would hold a secret inline are not among them. A profile's session
// block is the scenario format's (sim.Schema), included, so that the
// schema stands alone (agent/schema.json names it by reference). Editors
// that read JSON Schema use it to complete and check agent.yaml. It checks
// each value on its own: relations between values, the secrets and the
// stores are Check's. The caller owns the returned slice.
func Schema() []byte { return bytes.Clone(bundled()) }

var bundled = sync.OnceValue(func() []byte {
	b, err := bundle(schemaSource, sim.Schema())
	if err != nil {
		panic("agent: schema.json: " + err.Error()) // a test holds it to the parser
	}
	return b
})

// bundle replaces the session block of agentSchema, which refers to the
// scenario format's, by that block of simSchema, keeping the agent's
// description, and indents the result as the sources are.
func bundle(agentSchema, simSchema []byte) ([]byte, error) {
	var a struct {
		Properties struct {
			Profiles struct {
				AdditionalProperties struct {
					Properties struct {
						Session json.RawMessage `json:"session"`
					} `json:"properties"`
				} `json:"additionalProperties"`
			} `json:"profiles"`
		} `json:"properties"`
	}
	var s struct {
		Properties struct {
			Session json.RawMessage `json:"session"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(agentSchema, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(simSchema, &s); err != nil {
		return nil, err
	}
	ref := a.Properties.Profiles.AdditionalProperties.Properties.Session
	own, err := members(ref)
	if err != nil {
		return nil, err
	}
	block, err := members(s.Properties.Session)
	if err != nil {
		return nil, err
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
	found := false
	for _, m := range own {
		switch {
		case m.key == "$ref" && bytes.Equal(bytes.TrimSpace(m.value), []byte(`"`+SessionSchemaRef+`"`)):
			found = true
		case m.key != "$ref":
			write(m)
		}
	}
	if !found {
		return nil, errors.New("the session block does not refer to " + SessionSchemaRef)
	}
	for _, m := range block {
		if m.key != "description" {
			write(m)
		}
	}
	b.WriteByte('}')
	i := bytes.Index(agentSchema, ref)
	if i < 0 || bytes.Count(agentSchema, ref) != 1 {
		return nil, errors.New("the session block is not found once")
	}
	joined := append(append(append([]byte(nil), agentSchema[:i]...), b.Bytes()...), agentSchema[i+len(ref):]...)
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, joined); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
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
