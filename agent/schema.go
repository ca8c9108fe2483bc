package agent

import (
	_ "embed"

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
func Schema() []byte { return schema() }

var schema = declare.SchemaWith("agent", schemaSource)
