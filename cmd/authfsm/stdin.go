package main

import (
	"fmt"
	"io"

	"github.com/authfsm/authfsm/sim"
)

// maxScenario bounds a scenario read from standard input, as files are
// bounded: a scenario is a few kilobytes.
const maxScenario = 1 << 20

// countStdin counts the files that are "-", standard input.
func countStdin(files []string) int {
	n := 0
	for _, f := range files {
		if f == "-" {
			n++
		}
	}
	return n
}

// readScenario loads the scenario file at path, or reads one from standard
// input when path is "-".
func readScenario(path string) (*sim.Scenario, error) {
	if path != "-" {
		return sim.Load(path)
	}
	data, err := io.ReadAll(io.LimitReader(stdin, maxScenario+1))
	if err != nil {
		return nil, &sim.Error{File: "<stdin>", Kind: sim.ErrInvalid, Msg: "cannot read: " + err.Error()}
	}
	if len(data) > maxScenario {
		return nil, &sim.Error{File: "<stdin>", Kind: sim.ErrInvalid, Msg: fmt.Sprintf("larger than %d bytes: not a scenario", maxScenario)}
	}
	return sim.Parse("<stdin>", data)
}
