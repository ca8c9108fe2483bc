// Command authfsm works with auth-session state machines: it runs scenario
// files in the deterministic simulator, compares retry policies, runs a
// scenario through the real runtime to check that it agrees with the
// simulator, fuzzes
// random fault schedules against the invariants, prints the machine's
// diagram, verifies and repairs hash-chained audit logs, checking that the
// machine could have written them, draws a log's transition counts and
// timeline, prints the JSON Schema of scenario files and of the agent's
// configuration, and runs the agent, its token command, and the login and
// logout of its profiles.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit statuses, as documented in docs/SCENARIOS.md.
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
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, "authfsm", version())
		return exitOK
	case "sim":
		return runSim(args[1:], stdout, stderr)
	case "compare":
		return runCompare(args[1:], stdout, stderr)
	case "conform":
		return runConform(args[1:], stdout, stderr)
	case "fuzz":
		return runFuzz(args[1:], stdout, stderr)
	case "diagram":
		return runDiagram(args[1:], stdout, stderr)
	case "schema":
		return runSchema(args[1:], stdout, stderr)
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "agent":
		return runAgent(args[1:], stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "login":
		return runLogin(args[1:], stdout, stderr)
	case "logout":
		return runLogout(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			// "authfsm help COMMAND [SUBCOMMAND]" is "authfsm COMMAND [SUBCOMMAND] --help".
			return run(append(args[1:], "--help"), stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "authfsm: unknown command %q\n", args[0])
	usage(stderr)
	return exitBadInput
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  authfsm --version
  authfsm sim [--seed N] [--policy KIND | --profile AGENT.yaml[#NAME]] [--json] [--trace] [--audit LOG] [--svg FILE] [--session N] [--max-events N] FILE...
  authfsm compare [--svg FILE] [--max-events N] FILE
  authfsm conform [--json] [--trace] FILE...
  authfsm fuzz [--runs N] [--seed S] [--out DIR] [--json]
  authfsm diagram [--format mermaid|dot|svg]
  authfsm schema [--agent]
  authfsm audit verify [--key-file F] [--head [SEQ:]HASH] FILE
  authfsm audit verify --unchained FILE
  authfsm audit repair [--key-file F] FILE
  authfsm audit diagram [--format mermaid|dot|svg] FILE
  authfsm audit timeline --svg OUT FILE
  authfsm agent --config FILE [--check]
  authfsm token [--profile P] [--format bare|json|exec-credential|git] [--agent ADDR|--socket PATH]
  authfsm login [--profile P] [--config FILE] [--timeout D]
  authfsm logout [--profile P] [--config FILE] [--timeout D]

exit status: 0 every expectation holds, 1 one fails (for compare: under any of the policies;
for fuzz: a violation is found; for conform: the runtime and the simulator disagree), 2 bad input
`)
}
