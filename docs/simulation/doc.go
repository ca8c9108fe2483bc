// Package simulation holds the simulator pictures and the compare table
// that README.md shows, generated from the scenario library by
// `go generate ./...`. Its test fails when the checked-in files differ from
// what the simulator produces, or when README.md shows a stale table.
package simulation

//go:generate go run gen.go

import (
	"bytes"
	"sync"

	"github.com/authfsm/authfsm/sim"
)

// scenarios is where the library lives, relative to this directory.
const scenarios = "../../testdata/scenarios/"

// Files maps each generated file name to the function that renders it.
var Files = map[string]func() (string, error){
	"timeline.svg":        func() (string, error) { return timeline("503-outage-longer-than-ttl.yaml") },
	"fleet-no-jitter.svg": func() (string, error) { return timeline("fleet-outage-no-jitter.yaml") },
	"compare.svg": func() (string, error) {
		c, err := compare()
		if err != nil {
			return "", err
		}
		return sim.CompareSVG(c), nil
	},
	"compare.txt": CompareText,
}

// CompareFile is the scenario README.md's compare table shows.
const CompareFile = "testdata/scenarios/fleet-outage-jitter.yaml"

func timeline(file string) (string, error) {
	sc, err := sim.Load(scenarios + file)
	if err != nil {
		return "", err
	}
	return sim.TimelineSVG(sim.Run(sc, sim.Options{Timeline: true}).Timeline), nil
}

// compare runs the comparison once: the table and the picture show the
// same (deterministic) runs, each of a thousand sessions.
var compare = sync.OnceValues(func() (*sim.Comparison, error) {
	sc, err := sim.Load("../../" + CompareFile)
	if err != nil {
		return nil, err
	}
	return sim.Compare(sc), nil
})

// CompareText is the output of `authfsm compare` on CompareFile.
func CompareText() (string, error) {
	c, err := compare()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	c.Text(&b)
	return b.String(), nil
}
