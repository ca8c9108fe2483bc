package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/authfsm/authfsm/conform"
)

func runConform(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("conform", stderr)
	asJSON := fs.Bool("json", false, "print one JSON result per file, one per line")
	trace := fs.Bool("trace", false, "print both runs' transitions after the result (with --json, one JSON line each)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "authfsm conform: no scenario file given")
		return exitBadInput
	}
	if n := countStdin(files); n > 1 {
		fmt.Fprintf(stderr, "authfsm conform: - (standard input) given %d times: it can be read once\n", n)
		return exitBadInput
	}
	status := exitOK
	for _, file := range files {
		sc, err := readScenario(file)
		if err != nil {
			sayErr(stderr, "conform", err)
			status = exitBadInput
			continue
		}
		res, err := conform.Run(sc)
		switch {
		case errors.Is(err, conform.ErrTooLarge):
			fmt.Fprintf(stderr, "authfsm conform: %s: %s (authfsm sim runs it)\n", file, strings.TrimPrefix(err.Error(), "conform: "))
			status = exitBadInput
			continue
		case err != nil:
			// The runtime's run could not finish: it does not agree.
			fmt.Fprintf(stderr, "authfsm conform: %s: %s\n", file, strings.TrimPrefix(err.Error(), "conform: "))
			if status == exitOK {
				status = exitFailed
			}
			continue
		}
		if *asJSON {
			writeConformJSON(stdout, file, res)
		} else {
			writeConformText(stdout, file, res)
		}
		if *trace {
			writeConformTrace(stdout, res, *asJSON)
		}
		if !res.Agree() && status == exitOK {
			status = exitFailed
		}
	}
	return status
}

// count returns the number of transitions over all sessions.
func count(ts [][]conform.Transition) int {
	n := 0
	for _, s := range ts {
		n += len(s)
	}
	return n
}

// writeConformText writes one line when the runs agree, else the first
// difference.
func writeConformText(w io.Writer, file string, res *conform.Result) {
	if res.Agree() {
		fmt.Fprintf(w, "AGREE  %s (%s): %s, %s\n", file, res.Name, plural(len(res.Simulator), "session"), plural(count(res.Simulator), "transition"))
		return
	}
	fmt.Fprintf(w, "DIFFER %s (%s): %s\n", file, res.Name, strings.ReplaceAll(res.Diff.String(), "\n", "\n       "))
}

// conformJSON is the --json result of one file.
type conformJSON struct {
	File        string          `json:"file"`
	Name        string          `json:"name"`
	Agree       bool            `json:"agree"`
	Sessions    int             `json:"sessions"`
	Transitions sides           `json:"transitions"`
	Lost        sides           `json:"families_lost"`
	Difference  *differenceJSON `json:"difference,omitempty"`
}

type sides struct {
	Simulator int `json:"simulator"`
	Runtime   int `json:"runtime"`
}

type differenceJSON struct {
	// Session and Transition (from 1) locate it; both absent for a
	// difference in the families lost.
	Session    *int                `json:"session,omitempty"`
	Transition *int                `json:"transition,omitempty"`
	Simulator  *conform.Transition `json:"simulator"`
	Runtime    *conform.Transition `json:"runtime"`
}

func writeConformJSON(w io.Writer, file string, res *conform.Result) {
	out := conformJSON{File: file, Name: res.Name, Agree: res.Agree(), Sessions: len(res.Simulator),
		Transitions: sides{count(res.Simulator), count(res.Runtime)}, Lost: sides{res.SimulatorLost, res.RuntimeLost}}
	if d := res.Diff; d != nil {
		dj := &differenceJSON{Simulator: d.Simulator, Runtime: d.Runtime}
		if d.Session >= 0 {
			s, k := d.Session, d.Index+1
			dj.Session, dj.Transition = &s, &k
		}
		out.Difference = dj
	}
	b, _ := json.Marshal(out)
	w.Write(append(b, '\n'))
}

// writeConformTrace writes both runs' transitions, session by session: in
// text, the simulator's and the runtime's one under the other; in JSON,
// one line per transition naming its run.
func writeConformTrace(w io.Writer, res *conform.Result, asJSON bool) {
	for i := range max(len(res.Simulator), len(res.Runtime)) {
		var a, b []conform.Transition
		if i < len(res.Simulator) {
			a = res.Simulator[i]
		}
		if i < len(res.Runtime) {
			b = res.Runtime[i]
		}
		if !asJSON && (len(a) > 0 || len(b) > 0) {
			fmt.Fprintf(w, "session %d:\n", i)
		}
		for k := range max(len(a), len(b)) {
			for _, side := range []struct {
				run string
				ts  []conform.Transition
			}{{"simulator", a}, {"runtime", b}} {
				if k >= len(side.ts) {
					continue
				}
				t := side.ts[k]
				if asJSON {
					b, _ := json.Marshal(t)
					w.Write([]byte(`{"run":"` + side.run + `",`))
					w.Write(append(b[1:], '\n'))
					continue
				}
				fmt.Fprintf(w, "  %-9s %s\n", side.run, t)
			}
		}
	}
}
