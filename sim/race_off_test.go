//go:build !race

package sim

// raceEnabled reports that the race detector is on: tests that run tens of
// millions of events shorten their runs.
const raceEnabled = false
