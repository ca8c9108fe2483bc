package benchkit

import "testing"

// TestFloorOrder: the loop pops in time order; with three sessions spread
// by 1 and a period of 10, the instants are 0 1 2 10 11 12 20 ...
func TestFloorOrder(t *testing.T) {
	if got, want := Floor(3, 7, 1, 10), int64(0+1+2+10+11+12+20); got != want {
		t.Errorf("Floor(3, 7, 1, 10) = %d, want %d", got, want)
	}
}
