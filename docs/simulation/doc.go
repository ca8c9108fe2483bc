// Package simulation holds the simulator pictures, the heat map of a
// fleet's transitions and the compare table that docs/simulator.md shows,
// generated from the scenario library by `go generate ./...`. Its test
// fails when the checked-in files differ from what the simulator produces,
// or when docs/simulator.md shows a stale table.
package simulation

//go:generate go run gen.go

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/diagram"
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
	"heatmap.svg": Heatmap,
}

// HeatmapFile is the scenario whose trace the heat map counts.
const HeatmapFile = "testdata/scenarios/fleet-outage-jitter.yaml"

// Heatmap draws the machine with the count of every transition of
// HeatmapFile's run, as
//
//	authfsm sim --audit audit.jsonl FILE
//	authfsm audit diagram --format svg audit.jsonl
//
// does: the trace, audit records as JSON lines, read back by
// audit.Conform, its counts drawn by diagram.WeightedSVG.
func Heatmap() (string, error) {
	sc, err := sim.Load("../../" + HeatmapFile)
	if err != nil {
		return "", err
	}
	var log bytes.Buffer
	enc := json.NewEncoder(&log)
	for _, rec := range sim.Run(sc, sim.Options{Trace: true}).Trace {
		if err := enc.Encode(rec); err != nil {
			return "", err
		}
	}
	conf, err := audit.Conform(&log)
	if err != nil {
		return "", err
	}
	return diagram.WeightedSVG(conf.Counts), nil
}

// CompareFile is the scenario docs/simulator.md's compare table shows.
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
