//go:build !race

package conform

// raceEnabled reports that the race detector is on: the large fleets,
// which take minutes under it, are left to the tests without it.
const raceEnabled = false
