package benchkit

import (
	"testing"
	"time"
)

// VersusFloor measures subject against the floor in the same run: each
// iteration of b runs subject once, then Floor with the same number of
// events over sessions sessions (the first spread apart, each rescheduling
// itself every period), and it reports both costs per event and their
// ratio, x-floor, which is the figure to read. The costs are CPU time
// where the system gives it (the garbage collector's included), else
// elapsed time.
func VersusFloor(b *testing.B, events int64, sessions int, spread, period time.Duration, subject func()) {
	b.Helper()
	var subj, floor time.Duration
	var sink int64
	for b.Loop() {
		t0 := now()
		subject()
		t1 := now()
		sink += Floor(sessions, events, int64(spread), int64(period))
		t2 := now()
		subj += t1 - t0
		floor += t2 - t1
	}
	if sink == 0 && events > 0 && sessions > 1 {
		b.Fatal("the floor popped nothing")
	}
	n := float64(b.N) * float64(events)
	b.ReportMetric(float64(subj)/n, "ns/event")
	b.ReportMetric(float64(floor)/n, "floor-ns/event")
	b.ReportMetric(float64(subj)/float64(floor), "x-floor")
	b.ReportMetric(float64(events), "events/op")
}

// now is CPUTime where the system gives it, else the elapsed time.
func now() time.Duration {
	if d, ok := CPUTime(); ok {
		return d
	}
	return time.Duration(time.Now().UnixNano())
}
