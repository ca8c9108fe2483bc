package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/diagram"
	"github.com/authfsm/authfsm/states"
)

const auditUsage = `usage:
  authfsm audit verify [--key-file F] [--head [SEQ:]HASH] FILE
  authfsm audit verify --unchained FILE
  authfsm audit repair [--key-file F] FILE
  authfsm audit diagram [--format mermaid|dot|svg] FILE
  authfsm audit timeline --svg OUT FILE

verify checks every link of a hash-chained audit log and that the state
machine could have written it; repair removes a torn last line (a write cut
short by a crash) and appends a record saying so; diagram draws the machine
with the count of every transition in a log; timeline draws the
simulator's timeline picture from a log. A log is JSON lines of audit
records: a runtime's (session.WithAudit), or a simulator's run (authfsm sim
--audit LOG writes one, hash-chained).
Run "authfsm audit SUBCOMMAND --help" for details.
`

const verifyUsage = `usage: authfsm audit verify [--key-file F] [--head [SEQ:]HASH] FILE
       authfsm audit verify --unchained FILE

Checks every link of the hash-chained audit log FILE, then that the state
machine could have written it: every record must be a transition of the
machine's table, and each session's records must chain, each leaving the
state the session's previous record left it in. A session's first record
may leave any state, since a log may begin in the middle of a session's
life. Note records (a repair's) are skipped. Prints the head as SEQ:HASH.
Flags may come before or after FILE.

  --key-file F       the log is HMAC-keyed: read the key from F (one trailing
                     newline is ignored; the key is never printed)
  --head [SEQ:]HASH  the head anchored elsewhere: the log must end there, so a
                     truncated or rewritten tail fails
  --unchained        FILE is not hash-chained: JSON lines of audit records.
                     Checks conformance only; hash members, if any, are
                     ignored. Never assumed: a log stripped of its hashes
                     must not pass for one that never had them

exit status: 0 the log verifies (and ends at --head) and conforms, 1 a link is
broken, the head differs or a record is impossible, 2 bad usage, an
unreadable file, or a FILE that is not an audit log
`

const repairUsage = `usage: authfsm audit repair [--key-file F] FILE

Removes a torn last line from the hash-chained audit log FILE (a write cut
short by a crash) and appends a chained record saying how many bytes went.
A log that verifies is left alone. A broken link anywhere else is not a torn
write and is not repaired. Run it while no writer has FILE open.

  --key-file F  the log is HMAC-keyed: read the key from F

exit status: 0 repaired or intact, 1 a broken link that is not a torn last
line, 2 bad usage or an unreadable file
`

const diagramUsage = `usage: authfsm audit diagram [--format mermaid|dot|svg] FILE

Draws the state machine with the count of every transition in FILE, an
audit log (JSON lines of audit records, hash-chained or not: a runtime's,
or a simulator's run as authfsm sim --audit LOG writes it), to standard
output. Each
edge's label gives every event's count, its width grows with the logarithm
of its count, and edges never taken are grey and dashed. The Mermaid output
is a flowchart: Mermaid's state diagrams cannot style one transition. Flags
may come before or after FILE.

The hash chain is not checked (audit verify does that). A log the machine
could not have written is refused, as audit verify refuses it: its counts
would draw transitions that never happened.

  --format F  mermaid (the default), dot or svg

exit status: 0 drawn, 1 a record is impossible, 2 bad usage, an unreadable
file, or a FILE that is not an audit log
`

// runAudit implements "authfsm audit verify|repair|diagram|timeline".
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitBadInput
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(args[1:], stdout, stderr)
	case "repair":
		return runAuditRepair(args[1:], stdout, stderr)
	case "diagram":
		return runAuditDiagram(args[1:], stdout, stderr)
	case "timeline":
		return runAuditTimeline(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		helpWith(stdout, "audit", auditUsage)
		return exitOK
	}
	say(stderr, "audit", "unknown subcommand %q", args[0])
	fmt.Fprint(stderr, auditUsage)
	return exitBadInput
}

// auditArgs parses a subcommand's flags and its one FILE. done is true when
// the caller should return code: help was asked for (printed to stdout) or
// the command line is wrong (reported to stderr).
func auditArgs(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (file string, done bool, code int) {
	// The flag package would print its own usage to stderr on -h; help asked
	// for goes to stdout with exit 0, like "authfsm --help".
	fs.Usage = func() {}
	files, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return "", true, flagHelp(stdout, fs, usage)
	case err != nil:
		say(stderr, fs.Name(), "%v", err)
		fmt.Fprint(stderr, usage)
		return "", true, exitBadInput
	case len(files) != 1:
		fmt.Fprintf(stderr, "authfsm %s: want one FILE, got %d\n", fs.Name(), len(files))
		fmt.Fprint(stderr, usage)
		return "", true, exitBadInput
	}
	return files[0], false, exitOK
}

// keyOptions returns the chain options for --key-file, if given.
func keyOptions(keyFile string) ([]audit.Option, error) {
	if keyFile == "" {
		return nil, nil
	}
	key, err := audit.ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	return []audit.Option{audit.WithKey(key)}, nil
}

// runAuditVerify implements "authfsm audit verify": exit 0 when the log
// verifies (and ends at --head) and conforms to the machine's table, 1 when
// a link is broken, the head differs or a record is impossible, 2 for bad
// usage, an unreadable file or one that is not an audit log.
func runAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit verify", stderr)
	keyFile := fs.String("key-file", "", "read the HMAC key of a keyed log from this file")
	headFlag := fs.String("head", "", "the anchored head, SEQ:HASH or HASH, the log must end at")
	unchained := fs.Bool("unchained", false, "the log is not hash-chained: check conformance only")
	path, done, code := auditArgs(fs, verifyUsage, args, stdout, stderr)
	if done {
		return code
	}
	if *unchained && (*keyFile != "" || *headFlag != "") {
		say(stderr, "audit verify", "--unchained checks no hash; --key-file and --head need a chain")
		return exitBadInput
	}
	var anchor *audit.Head
	if *headFlag != "" {
		h, err := audit.ParseHead(*headFlag)
		if err != nil {
			say(stderr, "audit verify", "--head: %v", err)
			return exitBadInput
		}
		anchor = &h
	}
	opts, err := keyOptions(*keyFile)
	if err != nil {
		say(stderr, "audit verify", "--key-file: %v", err)
		return exitBadInput
	}
	f, err := os.Open(path)
	if err != nil {
		say(stderr, "audit verify", "%v", err)
		return exitBadInput
	}
	defer f.Close()
	var head audit.Head
	if !*unchained {
		head, err = audit.Verify(f, opts...)
		if ce := (*audit.ChainError)(nil); errors.As(err, &ce) {
			say(stderr, "audit verify", "%s:%d: %v", path, ce.Line, err)
			switch {
			case ce.Torn:
				say(stderr, "audit verify", "%s: `authfsm audit repair %s` removes a torn last line", path, path)
			case ce.Line == 1 && strings.Contains(ce.Reason, "not a chained record"):
				say(stderr, "audit verify", "%s: if the log was never hash-chained, `authfsm audit verify --unchained %s` checks its conformance alone", path, path)
			}
			return exitFailed
		} else if err != nil {
			say(stderr, "audit verify", "%s: %v", path, err)
			return exitBadInput
		}
		if anchor != nil {
			if err := audit.CheckHead(head, *anchor); err != nil {
				say(stderr, "audit verify", "%s: %v", path, err)
				return exitFailed
			}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			say(stderr, "audit verify", "%s: %v", path, err)
			return exitBadInput
		}
	}
	conf, err := audit.Conform(f)
	if ce := (*audit.ConformError)(nil); errors.As(err, &ce) {
		say(stderr, "audit verify", "%s:%d: %v", path, ce.Line, err)
		if !*unchained {
			say(stderr, "audit verify", "%s: the hash chain verifies, but the state machine could not have written this log: it was rewritten and rehashed, or written by another machine", path)
		}
		return exitFailed
	} else if err != nil {
		say(stderr, "audit verify", "%s: %v", path, err)
		return exitBadInput
	}
	if *unchained {
		fmt.Fprintf(stdout, "%s: ok, %s (unchained: no hash checked)\n", path, conformNote(conf))
		return exitOK
	}
	fmt.Fprintf(stdout, "%s: ok, %s, head %s%s%s; %s\n", path, plural(int(head.Seq), "record"), head, keyedNote(opts), anchoredNote(anchor), conformNote(conf))
	return exitOK
}

// conformNote says what conforms: "7 transitions of 2 sessions conform to
// the machine".
func conformNote(c audit.Conformance) string {
	verb := "conform"
	if c.Transitions == 1 {
		verb = "conforms"
	}
	return fmt.Sprintf("%s of %s %s to the machine", plural(c.Transitions, "transition"), plural(c.Sessions, "session"), verb)
}

// plural returns "1 record" or "5 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func keyedNote(opts []audit.Option) string {
	if len(opts) > 0 {
		return ", HMAC-keyed"
	}
	return ""
}

func anchoredNote(anchor *audit.Head) string {
	if anchor != nil {
		return ", the anchored head"
	}
	return ""
}

// runAuditRepair implements "authfsm audit repair": exit 0 when a torn last
// line was removed or the log is intact, 1 when a link is broken elsewhere
// (which is not repaired), 2 for bad usage or an unreadable file.
func runAuditRepair(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit repair", stderr)
	keyFile := fs.String("key-file", "", "read the HMAC key of a keyed log from this file")
	path, done, code := auditArgs(fs, repairUsage, args, stdout, stderr)
	if done {
		return code
	}
	opts, err := keyOptions(*keyFile)
	if err != nil {
		say(stderr, "audit repair", "--key-file: %v", err)
		return exitBadInput
	}
	res, err := audit.Repair(path, opts...)
	if ce := (*audit.ChainError)(nil); errors.As(err, &ce) {
		// ce rather than err: Repair's wrapping repeats the path.
		say(stderr, "audit repair", "%s:%d: %v", path, ce.Line, ce)
		say(stderr, "audit repair", "%s: not repaired: only a torn last line can be; a broken link elsewhere is what tampering looks like", path)
		return exitFailed
	} else if err != nil {
		say(stderr, "audit repair", "%v", err)
		return exitBadInput
	}
	if res.Removed == 0 {
		fmt.Fprintf(stdout, "%s: intact, nothing to repair (%s, head %s)\n", path, plural(int(res.Head.Seq), "record"), res.Head)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s: repaired: removed %d bytes of a torn last line after record %d and recorded it as record %d; head %s\n",
		path, res.Removed, res.Head.Seq-1, res.Head.Seq, res.Head)
	return exitOK
}

// weighted are the renderers of "authfsm audit diagram", by --format.
var weighted = map[string]func(states.Counts) string{
	"mermaid": diagram.WeightedMermaid, "dot": diagram.WeightedDOT, "svg": diagram.WeightedSVG,
}

// runAuditDiagram implements "authfsm audit diagram": exit 0 when the
// diagram is drawn, 1 when a record is impossible, 2 for bad usage, an
// unreadable file or one that is not an audit log.
func runAuditDiagram(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit diagram", stderr)
	format := fs.String("format", "mermaid", "output format: mermaid, dot or svg")
	path, done, code := auditArgs(fs, diagramUsage, args, stdout, stderr)
	if done {
		return code
	}
	render := weighted[*format]
	if render == nil {
		say(stderr, "audit diagram", "unknown format %q (want mermaid, dot or svg)", *format)
		return exitBadInput
	}
	conf, code, ok := conformFile("audit diagram", path, stderr)
	if !ok {
		return code
	}
	fmt.Fprint(stdout, render(conf.Counts))
	return exitOK
}

// conformFile reads the log at path and checks that the state machine could
// have written it, for the commands that draw a log. When it cannot, it
// says why on stderr and returns the exit status, with ok false.
func conformFile(cmd, path string, stderr io.Writer) (conf audit.Conformance, code int, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		say(stderr, cmd, "%v", err)
		return conf, exitBadInput, false
	}
	defer f.Close()
	conf, err = audit.Conform(f)
	if ce := (*audit.ConformError)(nil); errors.As(err, &ce) {
		say(stderr, cmd, "%s:%d: %v", path, ce.Line, err)
		say(stderr, cmd, "%s: not drawn: the state machine could not have written this log", path)
		return conf, exitFailed, false
	} else if err != nil {
		say(stderr, cmd, "%s: %v", path, err)
		return conf, exitBadInput, false
	}
	return conf, exitOK, true
}
