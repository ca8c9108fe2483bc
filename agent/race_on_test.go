//go:build race

package agent

// raceEnabled reports that the race detector is on: sync.Pool then drops
// what it is given at random, so allocation counts vary.
const raceEnabled = true
