package main

import (
	"fmt"
	"io"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/sim"
)

// runSchema prints the JSON Schema of scenario files (sim.Schema), or with
// --agent of the agent's configuration file (agent.Schema), for editors to
// complete and check them.
func runSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("schema", stderr)
	forAgent := fs.Bool("agent", false, "the schema of the agent's configuration file (agent.yaml), not of scenario files")
	if err := fs.Parse(args); err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	if fs.NArg() > 0 {
		say(stderr, "schema", "unexpected argument %q", fs.Arg(0))
		return exitBadInput
	}
	if *forAgent {
		fmt.Fprintf(stdout, "%s", agent.Schema())
		return exitOK
	}
	fmt.Fprintf(stdout, "%s", sim.Schema())
	return exitOK
}
