package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/authfsm/authfsm/sim"
)

// fuzzResult is the --json output of fuzz.
type fuzzResult struct {
	Runs      int    `json:"runs"`
	Seed      uint64 `json:"seed"`
	Violation bool   `json:"violation"`
	Run       *int   `json:"run,omitempty"`
	Why       string `json:"why,omitempty"`
	File      string `json:"file,omitempty"`
}

// fuzz is sim.Fuzz; tests replace it to stage a violation, which the real
// simulator does not have.
var fuzz = sim.Fuzz

// writeShrunk writes the shrunk scenario sc to file in dir, creating dir.
func writeShrunk(dir, file string, sc *sim.Scenario) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, sim.MarshalYAML(sc), 0o644)
}

func runFuzz(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fuzz", stderr)
	runs := fs.Int("runs", 1000, "number of random scenarios to try")
	seed := fs.Uint64("seed", 1, "seed from which every run's scenario derives")
	out := fs.String("out", ".", "directory for the shrunk failing scenario")
	asJSON := fs.Bool("json", false, "print the outcome as one JSON object (and no progress)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	if len(rest) > 0 || *runs < 1 {
		fmt.Fprintln(stderr, "authfsm fuzz: takes no file; --runs must be at least 1")
		return exitBadInput
	}
	cfg := sim.FuzzConfig{Runs: *runs, Seed: *seed}
	var prog *progress
	if !*asJSON {
		var mu sync.Mutex
		prog = newProgress(stderr)
		cfg.Progress = func(done int) {
			mu.Lock()
			defer mu.Unlock()
			prog.show(func() string { return fmt.Sprintf("authfsm fuzz: %d of %d runs", done, *runs) })
		}
	}
	rep := fuzz(cfg)
	if prog != nil {
		prog.done()
	}
	res := fuzzResult{Runs: rep.Runs, Seed: rep.Seed}
	if f := rep.Failure; f != nil {
		res.Violation, res.Run, res.Why = true, &f.Run, f.Why
		f.Shrunk.Description = fmt.Sprintf("Found by authfsm fuzz --seed %d (run %d) and shrunk. Breaks: %s.", rep.Seed, f.Run, f.Why)
		res.File = filepath.Join(*out, f.Shrunk.Name+".yaml")
		if err := writeShrunk(*out, res.File, f.Shrunk); err != nil {
			// The violation is still news: say what broke, then why the
			// scenario that reproduces it is not on disk.
			fmt.Fprintf(stderr, "authfsm fuzz: run %d of seed %d broke an invariant: %s\nauthfsm fuzz: cannot write the shrunk scenario: %v\n",
				f.Run, rep.Seed, f.Why, err)
			return exitBadInput
		}
	}
	switch {
	case *asJSON:
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
	case res.Violation:
		fmt.Fprintf(stdout, "fuzz: run %d of seed %d broke an invariant: %s\n  shrunk scenario: %s\n  reproduce: authfsm sim %s\n",
			*res.Run, res.Seed, res.Why, res.File, shellQuote(res.File))
	default:
		fmt.Fprintf(stdout, "fuzz: %s from seed %d, no violation\n", plural(res.Runs, "run"), res.Seed)
	}
	if res.Violation {
		return exitFailed
	}
	return exitOK
}
