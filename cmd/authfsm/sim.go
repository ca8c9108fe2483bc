package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/sim"
)

func runSim(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sim", stderr)
	seed := fs.Uint64("seed", 0, "override the scenario's seed")
	kind := fs.String("policy", "", "override the policy's kind: none, constant or exponential")
	asJSON := fs.Bool("json", false, "print one JSON result per file, one per line")
	trace := fs.Bool("trace", false, "print every transition after the result (with --json, one JSON line each)")
	svg := fs.String("svg", "", "write the run's timeline picture to this SVG file")
	auditOut := fs.String("audit", "", "write the run's transitions to this file as a hash-chained audit log, as a runtime session's (authfsm audit verify, diagram and timeline read it)")
	profile := fs.String("profile", "", "simulate a declared session: an agent profile's session block (the agent's config FILE, or FILE#NAME), or a session FILE (declare.Load)")
	maxEvents := fs.Int64("max-events", sim.DefaultMaxEvents, "refuse a run estimated to need more events than this")
	session := fs.Int("session", 0, "show the timeline of this session of a fleet, in the report and in the --svg picture (by default the session that made the run fail, else 0)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	var prof *declare.Session
	var profName string
	if *profile != "" {
		s, name, err := loadProfileSession(*profile)
		profName = name
		if err == nil && *kind != "" {
			err = errProfileAndPolicy
		}
		if err != nil {
			sayErr(stderr, "sim", err)
			return exitBadInput
		}
		prof = &s
	}
	seedSet, kindSet, sessionSet := false, false, false
	fs.Visit(func(f *flag.Flag) {
		seedSet = seedSet || f.Name == "seed"
		kindSet = kindSet || f.Name == "policy"
		sessionSet = sessionSet || f.Name == "session"
	})
	if kindSet {
		// Checked once, before any file: the flag is wrong for all of them.
		if err := checkPolicyKind(*kind); err != nil {
			fmt.Fprintln(stderr, err)
			return exitBadInput
		}
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "authfsm sim: no scenario file given")
		return exitBadInput
	}
	if n := countStdin(files); n > 1 {
		fmt.Fprintf(stderr, "authfsm sim: - (standard input) given %d times: it can be read once\n", n)
		return exitBadInput
	}
	if *svg != "" && len(files) > 1 {
		fmt.Fprintln(stderr, "authfsm sim: --svg draws one scenario; give one file")
		return exitBadInput
	}
	if *auditOut != "" && len(files) > 1 {
		fmt.Fprintln(stderr, "authfsm sim: --audit writes the log of one run; give one file")
		return exitBadInput
	}
	status := exitOK
	for k, file := range files {
		sc, err := loadScenario(file, seedSet, *seed, *kind)
		if err == nil && prof != nil {
			if err = sc.UseSession(*prof); err != nil {
				err = fmt.Errorf("authfsm sim: %s with --profile %s: %w", file, *profile, err)
			}
			sc.Profile = profName
		}
		if err != nil {
			sayErr(stderr, "sim", err)
			status = exitBadInput
			continue
		}
		if err := checkWork("sim", file, "the run needs", sim.Estimate(sc), *maxEvents); err != nil {
			fmt.Fprintln(stderr, err)
			status = exitBadInput
			continue
		}
		if sessionSet && (*session < 0 || *session >= sc.Fleet.Sessions) {
			fmt.Fprintf(stderr, "authfsm sim: %s: --session %d: the scenario's sessions are 0 to %d\n", file, *session, sc.Fleet.Sessions-1)
			status = exitBadInput
			continue
		}
		prog := newProgress(stderr)
		opt := sim.Options{Timeline: *svg != "", Progress: prog.run("sim", sc.File), Session: *session}
		var spool *traceSpool
		if *trace {
			if spool, err = newTraceSpool(*asJSON, sc.Fleet.Sessions > 1); err != nil {
				fmt.Fprintf(stderr, "authfsm sim: --trace: %v\n", err)
				return exitBadInput
			}
			opt.OnTransition = spool.add
		}
		var log *auditFile
		if *auditOut != "" {
			if log, err = newAuditFile(*auditOut); err != nil {
				fmt.Fprintf(stderr, "authfsm sim: --audit: %v\n", err)
				return exitBadInput
			}
			if spool != nil {
				opt.OnTransition = func(rec audit.Record) { spool.add(rec); log.add(rec) }
			} else {
				opt.OnTransition = log.add
			}
		}
		res := sim.Run(sc, opt)
		if log != nil {
			if err := log.close(); err != nil {
				fmt.Fprintf(stderr, "authfsm sim: --audit: %v\n", err)
				return exitBadInput
			}
		}
		if (!*asJSON || *svg != "") && !sessionSet && res.Failing > 0 {
			// The report, and the picture's rows of one session, show the
			// session that made the run fail. The run is deterministic:
			// running it again gives the same result, with that session's
			// transitions kept.
			again := sim.Run(sc, sim.Options{Session: res.Failing, Progress: opt.Progress, Timeline: *svg != ""})
			res.Story, res.StoryLen, res.StorySession = again.Story, again.StoryLen, again.StorySession
			if *svg != "" {
				res.Timeline = again.Timeline
			}
		}
		prog.done()
		if *asJSON {
			stdout.Write(append(res.JSON(), '\n'))
		} else {
			if k > 0 {
				fmt.Fprintln(stdout)
			}
			sim.Report(stdout, sc, res, reproduceLine(res.Seed, *profile, *kind, *maxEvents, file))
		}
		if spool != nil {
			if err := spool.copyTo(stdout); err != nil {
				fmt.Fprintf(stderr, "authfsm sim: --trace: %v\n", err)
				return exitBadInput
			}
		}
		if *svg != "" {
			if err := os.WriteFile(*svg, []byte(sim.TimelineSVG(res.Timeline)), 0o644); err != nil {
				fmt.Fprintf(stderr, "authfsm sim: %v\n", err)
				return exitBadInput
			}
		}
		if !res.Passed && status == exitOK {
			status = exitFailed
		}
	}
	return status
}

// loadScenario loads file and applies the command line's overrides.
func loadScenario(file string, seedSet bool, seed uint64, kind string) (*sim.Scenario, error) {
	sc, err := readScenario(file)
	if err != nil {
		return nil, err
	}
	if seedSet {
		sc.Seed = seed
	}
	if kind != "" {
		if err := sc.SetPolicyKind(kind); err != nil {
			return nil, fmt.Errorf("authfsm sim: %s: --policy %s does not fit the file's session.policy: %w", file, kind, err)
		}
	}
	return sc, nil
}

// checkPolicyKind rejects a --policy value that is not a built-in kind,
// the empty string included (it would silently mean "no override").
func checkPolicyKind(kind string) error {
	valid := strings.Join(policy.Kinds, ", ")
	if kind == "" {
		return fmt.Errorf("authfsm sim: --policy needs a kind (one of %s)", valid)
	}
	if !slices.Contains(policy.Kinds, kind) {
		return fmt.Errorf("authfsm sim: --policy %q is not a policy kind (one of %s)", kind, valid)
	}
	return nil
}

// reproduceLine is the command that reruns a run of file: its seed, and the
// profile, policy and bound on work it was run with.
func reproduceLine(seed uint64, profile, kind string, maxEvents int64, file string) string {
	args := []string{"authfsm", "sim", "--seed", strconv.FormatUint(seed, 10)}
	if profile != "" {
		args = append(args, "--profile", shellQuote(profile))
	}
	if kind != "" {
		args = append(args, "--policy", kind)
	}
	if maxEvents != sim.DefaultMaxEvents {
		args = append(args, "--max-events", strconv.FormatInt(maxEvents, 10))
	}
	if strings.HasPrefix(file, "-") && file != "-" {
		args = append(args, "--") // a file, not a flag
	}
	return strings.Join(append(args, shellQuote(file)), " ")
}

// shellQuote returns s as one word of a POSIX shell: as it is when it is
// made of characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkWork refuses a run (or runs) estimated to need more than max events
// (docs/SCENARIOS.md, Limits): more than about a minute of work by default.
func checkWork(cmd, file, what string, events, max int64) error {
	if events <= max {
		return nil
	}
	bound := strconv.FormatInt(max, 10)
	if max == sim.DefaultMaxEvents {
		bound += ", about a minute of work"
	}
	return fmt.Errorf("authfsm %s: %s: %s about %d events (estimated before running), more than --max-events allows (%s); "+
		"run it with --max-events %d", cmd, file, what, events, bound, events)
}
