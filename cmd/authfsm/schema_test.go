package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/sim"
)

// TestSchemaCommand: authfsm schema prints the scenario format's JSON
// Schema, and nothing else; it answers --help like every command and
// refuses arguments.
func TestSchemaCommand(t *testing.T) {
	code, out, errOut := runCLI("schema")
	if code != exitOK || out != string(sim.Schema()) || errOut != "" {
		t.Fatalf("schema: exit %d, stderr %q, stdout is the schema: %t", code, errOut, out == string(sim.Schema()))
	}
	var doc struct {
		Schema     string         `json:"$schema"`
		ID         string         `json:"$id"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("schema: not JSON: %v", err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" || !strings.HasSuffix(doc.ID, "/sim/schema.json") || doc.Properties["session"] == nil {
		t.Errorf("schema: $schema %q, $id %q, %d top-level keys", doc.Schema, doc.ID, len(doc.Properties))
	}
	for _, args := range [][]string{{"schema", "--help"}, {"schema", "-h"}, {"help", "schema"}} {
		code, out, errOut := runCLI(args...)
		if code != exitOK || !strings.HasPrefix(out, "authfsm schema: print the JSON Schema of scenario files") ||
			!strings.Contains(out, "\n  authfsm schema [--agent]\n") || !strings.Contains(out, "\n  -agent\n") || errOut != "" {
			t.Errorf("authfsm %v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
	if _, out, _ := runCLI("--help"); !strings.Contains(out, "\n  authfsm schema [--agent]\n") {
		t.Errorf("the usage does not list schema:\n%s", out)
	}
	// --agent: the agent's configuration file's, with the session block
	// included.
	code, out, errOut = runCLI("schema", "--agent")
	if code != exitOK || out != string(agent.Schema()) || errOut != "" {
		t.Fatalf("schema --agent: exit %d, stderr %q, stdout is the agent's schema: %t", code, errOut, out == string(agent.Schema()))
	}
	doc.Properties = nil
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("schema --agent: not JSON: %v", err)
	}
	if !strings.HasSuffix(doc.ID, "/agent/schema.json") || doc.Properties["profiles"] == nil || strings.Contains(out, declare.SchemaRef) ||
		!strings.Contains(out, `"refresh_ahead"`) {
		t.Errorf("schema --agent: $id %q, top-level keys %v, session block included: %t", doc.ID, doc.Properties, !strings.Contains(out, declare.SchemaRef))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"schema", "extra.yaml"}, `authfsm schema: unexpected argument "extra.yaml"`},
		{[]string{"schema", "--format", "yaml"}, "authfsm schema: flag provided but not defined: -format"},
	} {
		code, out, errOut := runCLI(c.args...)
		if code != exitBadInput || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("authfsm %v: exit %d\nstdout %q\nstderr %q", c.args, code, out, errOut)
		}
	}
}
