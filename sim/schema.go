package sim

import (
	_ "embed"

	"github.com/authfsm/authfsm/declare"
)

//go:embed schema.json
var schemaSource []byte

// Schema returns the JSON Schema (draft 2020-12) of the scenario format:
// every key Parse accepts, at every level, with its meaning, default,
// range and an example, and no other key. The session block is
// declare.Schema's, included, so that the schema stands alone
// (sim/schema.json names it by reference, declare.SchemaRef). Editors that
// read JSON Schema (the YAML language server, for one) use it to complete
// and check scenario files. It checks each value on its own: relations
// between values, such as instants within the run or a lease that outlasts
// one refresh, and the ranges of durations are Parse's alone. The caller
// owns the returned slice.
func Schema() []byte { return schema() }

var schema = declare.SchemaWith("sim", schemaSource)
