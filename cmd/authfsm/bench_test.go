package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkTraceMemory runs `authfsm sim --json --trace` on 100,000 sessions
// for 6 simulated hours (1.2 million transitions, 190 MB of trace) and
// reports the peak heap in use while it runs: the trace streams through a
// temporary file, so it stays near the run's own (76 MiB here), where one
// result line holding the whole trace took 706 MiB.
func BenchmarkTraceMemory(b *testing.B) {
	file := filepath.Join(b.TempDir(), "trace100k.yaml")
	src := "name: trace100k\nduration: 6h\ntoken: {ttl: 1h}\nworkload: [{kind: requests, every: 1m}]\nfleet: {sessions: 100000, start_spread: 1m}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		runtime.GC()
		stop := samplePeak()
		if code := run([]string{"sim", "--json", "--trace", file}, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("exit %d", code)
		}
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	}
}

// samplePeak samples the heap in use every few milliseconds until stop is
// called, which returns the largest sample.
func samplePeak() (stop func() uint64) {
	var peak uint64
	var mu sync.Mutex
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
