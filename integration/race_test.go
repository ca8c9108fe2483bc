//go:build race

package integration

// raceEnabled: the tests run under the race detector, so the child
// processes they build are built with it too.
const raceEnabled = true
