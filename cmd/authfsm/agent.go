package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/authfsm/authfsm/agent"
)

const agentUsage = `usage: authfsm agent --config FILE [--check]

Keeps one OAuth2 session per profile of FILE alive and serves it: a reverse
proxy that injects the Authorization header, GET /v1/token (with the header
Authfsm-Token-Request: 1), /v1/health and /metrics. SIGINT or SIGTERM shuts
it down gracefully, saving each profile's newest token pair. Secrets come
from files or the environment only. See docs/agent.md (and README.md,
"Clients in any language: the agent").

flags:
  --config FILE  the configuration file (YAML); relative paths in it are
                 relative to its directory
  --check        only check: report everything the agent would refuse at
                 its start, and start nothing — the file (a problem in each
                 top-level key and profile), the secrets, key and assertion
                 files, the listening addresses, the audit log and its key,
                 and each refresh_token profile's store (read, a Redis one
                 too: it must hold a pair, or the profile name a seed or a
                 login block)

Every key of FILE is in docs/agent-keys.md, and in the JSON Schema that
"authfsm schema --agent" prints, for editors.

exit status: 0 after a graceful shutdown (or a file the agent would start
with, for --check), 1 a failure while running, 2 a bad configuration
`

// wantsHelp reports whether args ask for help before anything else.
func wantsHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" })
}

func newAgentFlags(stderr io.Writer) (fs *flag.FlagSet, file *string, check *bool) {
	fs = newFlagSet("agent", stderr)
	file = fs.String("config", "", "the configuration file (YAML)")
	check = fs.Bool("check", false, "only check: report everything the agent would refuse at its start")
	return fs, file, check
}

func runAgent(args []string, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		helpWith(stdout, "agent", agentUsage)
		return exitOK
	}
	fs, file, check := newAgentFlags(stderr)
	if err := fs.Parse(args); err != nil { // --h and -help=true included
		return badFlag(stdout, stderr, fs, err, agentUsage)
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, agentUsage)
		return exitBadInput
	}
	cfg, err := agent.Load(*file)
	if err != nil {
		sayErr(stderr, "agent", err)
		return exitBadInput
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if *check {
		if err := agent.Check(context.Background(), cfg, agent.Options{Logger: log}); err != nil {
			sayErr(stderr, "agent", err)
			say(stderr, "agent", "%s: %s; the agent would not start", *file, plural(len(agent.Errors(err)), "problem"))
			return exitBadInput
		}
		fmt.Fprintf(stdout, "%s: %s, ok\n", *file, plural(len(cfg.Profiles), "profile"))
		return exitOK
	}
	// Signals are caught before anything is bound, so that none ends the
	// process without the shutdown that saves a rotated pair.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(ctx, cfg, agent.Options{Logger: log})
	if err != nil {
		sayErr(stderr, "agent", err)
		return exitBadInput
	}
	if err := a.Serve(ctx); err != nil {
		log.Error("agent stopped with an error", "err", err)
		return exitFailed
	}
	return exitOK
}
