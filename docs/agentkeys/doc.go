// Package agentkeys writes docs/agent-keys.md, the reference of every key
// of the agent's configuration file (its type, default, range, meaning and
// an example), from the JSON Schema that agent.Schema returns, by
// `go generate ./...`, with the renderer of docs/scenariokeys. Its test
// fails when the checked-in file differs from what the schema generates.
package agentkeys

//go:generate go run gen.go

import (
	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/docs/scenariokeys"
)

// File is the generated reference, relative to this directory.
const File = "../agent-keys.md"

// Agent is what the reference says around its tables.
var Agent = scenariokeys.Doc{
	Generator: "go generate ./docs/agentkeys",
	Source:    "agent/schema.json",
	Title:     "agent.yaml: every key",
	Intro: `Every key the configuration file of ` + "`authfsm agent`" + ` may hold, block by block, with its type, its
default (the value the agent uses when the key is left out), its range or values, its meaning and
an example. This file is generated from [` + "`agent/schema.json`" + `](../agent/schema.json), with a
profile's ` + "`session`" + ` block included from the scenario format's
([scenario-keys.md](scenario-keys.md#session)): the JSON Schema that ` + "`authfsm schema --agent`" + `
prints, for editors to complete and check agent.yaml (` + "`# yaml-language-server: $schema=…`" + `, as
[SCENARIOS.md](SCENARIOS.md) shows for scenario files). [agent.md](agent.md) explains what the
agent serves; ` + "`authfsm agent --check`" + ` reports, beyond what the schema can, every
problem the agent would refuse at its start.`,
}

// Markdown returns the reference generated from agent.Schema.
func Markdown() (string, error) { return scenariokeys.RenderDoc(agent.Schema(), Agent) }
