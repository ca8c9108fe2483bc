package sim

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchFleet is the throughput benchmark's scenario: 10,000 sessions for 24
// simulated hours, one call per session per minute.
const benchFleet = `{name: bench, duration: 24h, token: {ttl: 1h}, session: {refresh_ahead: 5m},
	workload: [{kind: requests, every: 1m}], fleet: {sessions: 10000, start_spread: 1m}}`

// BenchmarkSimulate measures the simulator's cost per event beside floor,
// the same number of pops and pushes through the bare typed heap with no
// decision logic: the ratio is the price of the model and the machine.
func BenchmarkSimulate(b *testing.B) {
	sc, err := Parse("bench.yaml", []byte(benchFleet))
	if err != nil {
		b.Fatal(err)
	}
	events := Run(sc, Options{}).Events
	b.Run("sim", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Run(sc, Options{})
		}
		perEvent(b, events)
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var q queue
			q.ev = make([]event, 0, 2*sc.Fleet.Sessions)
			for i := range 2 * sc.Fleet.Sessions {
				q.push(int64(i)*int64(time.Millisecond), evCall, uint32(i/2), 0)
			}
			for range events {
				e := q.pop()
				q.push(e.at+int64(time.Minute), e.kind(), e.sess, e.aux)
			}
		}
		perEvent(b, events)
	})
}

// BenchmarkFamilies is BenchmarkSimulate's fleet split into 2,500 token
// families of four processes sharing a store: the coordination protocol's
// round trips are events too, and cost no allocation.
func BenchmarkFamilies(b *testing.B) {
	src := strings.Replace(benchFleet, "token: {ttl: 1h}", "token: {ttl: 1h, rotate: true, reuse_detection: true}, share: {kind: store}", 1)
	sc, err := Parse("bench.yaml", []byte(strings.Replace(src, "sessions: 10000,", "sessions: 10000, families: 2500,", 1)))
	if err != nil {
		b.Fatal(err)
	}
	res := Run(sc, Options{})
	if !res.Passed || res.Stats.StoreRequests == 0 || res.Stats.FamilyRevocations != 0 {
		b.Fatalf("passed %v, stats %+v", res.Passed, res.Stats)
	}
	b.ReportAllocs()
	for b.Loop() {
		Run(sc, Options{})
	}
	perEvent(b, res.Events)
}

func perEvent(b *testing.B, events int64) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(events)
	b.ReportMetric(ns, "ns/event")
	b.ReportMetric(1e9/ns, "events/s")
	b.ReportMetric(float64(events), "events/op")
}

// BenchmarkFleetMemory runs a million sessions for 70 simulated minutes,
// one call per session every 10 minutes, and reports the peak heap in use
// per session (sampled while it runs) and the peak in MiB; the target is
// under 1 GiB.
func BenchmarkFleetMemory(b *testing.B) {
	sc, err := Load("../testdata/bench/fleet-1m.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := samplePeak()
		res := Run(sc, Options{})
		p := stop()
		if res.Stats.Requests != 7*int64(sc.Fleet.Sessions) {
			b.Fatalf("%d calls, want 7 per session", res.Stats.Requests)
		}
		b.ReportMetric(float64(p-base.HeapInuse)/float64(sc.Fleet.Sessions), "bytes/session")
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MiB")
	}
}

// samplePeak samples the heap in use every few milliseconds until stop is
// called, which returns the largest sample.
func samplePeak() func() uint64 {
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	finished := make(chan struct{})
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
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		defer mu.Unlock()
		return max(peak, m.HeapInuse)
	}
}
