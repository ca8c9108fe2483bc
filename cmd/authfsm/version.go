package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version returns the version the build info records: the module version
// when installed with go install …@version, else "(devel)" with the VCS
// revision and time when the binary was built from a checkout.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && v == "(devel)" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + dirty
		if at != "" {
			v += " " + at
		}
	}
	return v + " " + bi.GoVersion
}

// descriptions are the one-line descriptions that --help prints.
var descriptions = map[string]string{
	"sim":     "run scenario files in the deterministic simulator and check their expectations",
	"compare": "run one scenario under each built-in retry policy, side by side",
	"conform": "run scenario files through the real runtime and the simulator, and compare their transitions",
	"fuzz":    "draw random scenarios, check the machine's invariants, and shrink a failure",
	"diagram": "print the session machine's diagram (Mermaid, DOT or SVG)",
	"schema":  "print the JSON Schema of scenario files (or, with --agent, of agent.yaml), for editors to complete and check them",
}

// ownHelp are the one-line descriptions of the commands that print their
// own usage on --help (commandHelp serves those of descriptions), first.
var ownHelp = map[string]string{
	"audit":          "verify, repair and draw hash-chained audit logs and simulator traces",
	"audit verify":   "check every link of a hash-chained audit log and that the state machine could have written it",
	"audit repair":   "remove a torn last line from a hash-chained audit log",
	"audit diagram":  "draw the state machine with the count of every transition in a log or a simulator trace",
	"audit timeline": "draw the simulator's timeline picture from an audit log or a simulator trace",
	"agent":          "keep one OAuth2 session per profile alive and serve its token to clients in any language",
	"token":          "print a profile's access token, asked of a running agent",
	"login":          "log a profile of agent.yaml in (device or browser flow) and store the pair where a running agent adopts it",
	"logout":         "revoke a profile's pair at the authorization server and remove it from its store",
}

// helpWith writes cmd's one-line description, then its usage.
func helpWith(w io.Writer, cmd, usage string) {
	fmt.Fprintf(w, "authfsm %s: %s\n\n%s", cmd, ownHelp[cmd], usage)
}

// commandHelp prints cmd's description and usage lines to w.
func commandHelp(w io.Writer, cmd string) {
	fmt.Fprintf(w, "authfsm %s: %s\n\nusage:\n", cmd, descriptions[cmd])
	var all strings.Builder
	usage(&all)
	for _, line := range strings.Split(all.String(), "\n") {
		if strings.HasPrefix(line, "  authfsm "+cmd+" ") || line == "  authfsm "+cmd {
			fmt.Fprintln(w, line)
		}
	}
}
