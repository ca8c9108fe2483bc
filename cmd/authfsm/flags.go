package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set for subcommand name. The flag package
// reports nothing itself: a wrong flag is reported by badFlag, in the
// command's style, and help by the command.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// badFlag reports a command line the flag set fs refused, followed by the
// command's usage when it has its own (usage, else ""), or prints the
// command's help to stdout when that is what was asked for (-h, --help).
func badFlag(stdout, stderr io.Writer, fs *flag.FlagSet, err error, usage string) int {
	if errors.Is(err, flag.ErrHelp) {
		return flagHelp(stdout, fs, usage)
	}
	say(stderr, fs.Name(), "%v (authfsm %s --help lists the flags)", err, fs.Name())
	fmt.Fprint(stderr, usage)
	return exitBadInput
}

// flagHelp prints the help of fs's command to stdout: its own usage text
// when it has one, else its description, usage lines and flags.
func flagHelp(stdout io.Writer, fs *flag.FlagSet, usage string) int {
	if usage != "" {
		helpWith(stdout, fs.Name(), usage)
		return exitOK
	}
	commandHelp(stdout, fs.Name())
	fmt.Fprintln(stdout, "\nflags:")
	fs.SetOutput(stdout)
	fs.PrintDefaults()
	return exitOK
}

// parseInterleaved parses args with fs, accepting flags before and after
// the positional arguments (docs/SCENARIOS.md), which it returns in order. A
// lone "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// say writes a message to stderr in the one style of every message of the
// command: "authfsm CMD: ...".
func say(stderr io.Writer, cmd, format string, args ...any) {
	fmt.Fprintf(stderr, "authfsm %s: %s\n", cmd, fmt.Sprintf(format, args...))
}

// sayErr writes err as a message of cmd, without the "sim: " or "agent: "
// its package starts it with; a joined error (errors.Join) is one message
// for each of its errors.
func sayErr(stderr io.Writer, cmd string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			sayErr(stderr, cmd, e)
		}
		return
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "authfsm ") {
		msg = "authfsm " + cmd + ": " + strings.TrimPrefix(strings.TrimPrefix(msg, "sim: "), "agent: ")
	}
	fmt.Fprintln(stderr, msg)
}
