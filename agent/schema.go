package agent

import (
	"bytes"
	_ "embed"
	"sync"

	"github.com/authfsm/authfsm/declare"
)

//go:embed schema.json
var schemaSource []byte

// Schema returns the JSON Schema (draft 2020-12) of the agent's
// configuration file: every key Parse accepts, at every level, with its
// meaning, default, range and an example, and no other key; the keys that
// would hold a secret inline are not among them. A profile's session
// block is declare.Schema's, the scenario format's too, included, so that
// the schema stands alone (agent/schema.json names it by reference,
// declare.SchemaRef). Editors that read JSON Schema use it to complete and
// check agent.yaml. It checks each value on its own: relations between
// values, the secrets and the stores are Check's. The caller owns the
// returned slice.
func Schema() []byte { return bytes.Clone(bundled()) }

var bundled = sync.OnceValue(func() []byte {
	b, err := declare.IncludeSchema(schemaSource)
	if err != nil {
		panic("agent: schema.json: " + err.Error()) // a test holds it to the parser
	}
	return b
})
