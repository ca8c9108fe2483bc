// Command authfsm works with auth-session state machines: it prints the
// machine's diagram, and (as the simulator lands) runs scenario files.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit statuses, as documented in SCENARIOS.md.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitBadInput
	}
	switch args[0] {
	case "diagram":
		return runDiagram(args[1:], stdout, stderr)
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "authfsm: unknown command %q\n", args[0])
	usage(stderr)
	return exitBadInput
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  authfsm diagram [--format mermaid|dot|svg]
`)
}
