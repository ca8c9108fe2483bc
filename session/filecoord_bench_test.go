package session

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkFileCoordinatorAdoption measures, on the real clock, how long a
// process waiting for another's lease (FileCoordinator.Wait) takes to see
// that process's publish: each iteration acquires, lets the waiter block
// long into its wait, publishes, and times the waiter's return from the
// publish's. It reports the median and the 99th percentile.
func BenchmarkFileCoordinatorAdoption(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "family.json")
	holder := &FileCoordinator{Path: path}
	blocked := make(chan struct{}, 1)
	waiter := &FileCoordinator{Path: path, waiting: func(bool) {
		select {
		case blocked <- struct{}{}:
		default:
		}
	}}
	var delays []time.Duration
	gen := uint64(0)
	for b.Loop() {
		if _, ok, err := holder.Acquire(ctx, "holder", time.Minute); !ok || err != nil {
			b.Fatalf("Acquire: %v, %v", ok, err)
		}
		done := make(chan time.Time, 1)
		go func() {
			if _, err := waiter.Wait(ctx, gen); err != nil {
				b.Error(err)
			}
			done <- time.Now()
		}()
		for range 4 { // long enough into the wait that its pauses are their longest
			<-blocked
		}
		next, err := holder.Publish(ctx, "holder", gen, Token{Access: "at", Refresh: "rt", Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		published := time.Now()
		delays = append(delays, (<-done).Sub(published))
		gen = next
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "adopt-p50-µs")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "adopt-p99-µs")
}
