//go:build race

package main

// raceEnabled reports that the race detector is on: tests that read logs
// of hundreds of thousands of records shorten them.
const raceEnabled = true
