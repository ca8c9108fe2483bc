package simulation

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

func TestFilesAreFresh(t *testing.T) {
	for name, render := range Files {
		want, err := render()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./...)", name, err)
		}
		if string(got) != want {
			t.Errorf("%s is stale: run go generate ./...", name)
		}
	}
}

// TestSimulatorPageShowsTheComparison: docs/simulator.md quotes the current
// compare table and shows every picture.
func TestSimulatorPageShowsTheComparison(t *testing.T) {
	page, err := os.ReadFile("../simulator.md")
	if err != nil {
		t.Fatal(err)
	}
	text, err := CompareText()
	if err != nil {
		t.Fatal(err)
	}
	block := "$ go run ./cmd/authfsm compare " + CompareFile + "\n" + text + "```"
	if !strings.Contains(string(page), block) {
		t.Errorf("docs/simulator.md does not show the current compare output; paste docs/simulation/compare.txt under the command")
	}
	for name := range Files {
		if strings.HasSuffix(name, ".svg") && !strings.Contains(string(page), "](simulation/"+name+")") {
			t.Errorf("docs/simulator.md does not show docs/simulation/%s", name)
		}
	}
}

// TestReadmeShowsTheSeedRun checks the quick start and the sample output
// against the seed scenario's golden report.
func TestReadmeShowsTheSeedRun(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	quick := "```sh\ngo run ./cmd/authfsm sim testdata/scenarios/502-at-refresh.yaml\ngo test ./...\n```"
	if !strings.Contains(string(readme), quick) {
		t.Errorf("README.md's quick start is not:\n%s", quick)
	}
	report, err := os.ReadFile("../../testdata/golden/502-at-refresh.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(report), "\n")
	sample := "$ go run ./cmd/authfsm sim testdata/scenarios/502-at-refresh.yaml\n" + strings.Join(lines[:10], "")
	if !strings.Contains(string(readme), sample) {
		t.Errorf("README.md does not show the seed run's current output:\n%s", sample)
	}
}

// TestHeatmapCountsTheRun: the heat map counts every transition of the
// run, as docs/simulator.md says.
func TestHeatmapCountsTheRun(t *testing.T) {
	svg, err := Heatmap()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sim.Load("../../" + HeatmapFile)
	if err != nil {
		t.Fatal(err)
	}
	res := sim.Run(sc, sim.Options{})
	foot := fmt.Sprintf(">%d transitions counted;", res.Stats.Transitions)
	if !strings.Contains(svg, foot) || !strings.Contains(svg, "fail ×") {
		t.Errorf("the heat map does not count the run's %d transitions", res.Stats.Transitions)
	}
}
