package main

import (
	"fmt"
	"io"
	"os"

	"github.com/authfsm/authfsm/sim"
)

func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("compare", stderr)
	svg := fs.String("svg", "", "write the comparison's picture to this SVG file")
	maxEvents := fs.Int64("max-events", sim.DefaultMaxEvents, "refuse a comparison estimated to need more events than this (all policies)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "authfsm compare: give exactly one scenario file")
		return exitBadInput
	}
	sc, err := readScenario(files[0])
	if err != nil {
		sayErr(stderr, "compare", err)
		return exitBadInput
	}
	if err := checkWork("compare", files[0], "its runs (one per policy) need", sim.CompareEstimate(sc), *maxEvents); err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadInput
	}
	prog := newProgress(stderr)
	c := sim.Compare(sc, sim.Options{Progress: prog.run("compare", sc.File)})
	prog.done()
	c.Text(stdout)
	if *svg != "" {
		if err := os.WriteFile(*svg, []byte(sim.CompareSVG(c)), 0o644); err != nil {
			fmt.Fprintf(stderr, "authfsm compare: %v\n", err)
			return exitBadInput
		}
	}
	// docs/SCENARIOS.md: 0 when every expectation holds, 1 when one fails.
	// Every row checks the scenario's expectations, so one failing row
	// fails the command, as it would fail "sim --policy" for that row.
	for _, row := range c.Rows {
		if !row.Passed {
			return exitFailed
		}
	}
	return exitOK
}
