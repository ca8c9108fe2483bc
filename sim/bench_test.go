package sim

import (
	"fmt"
	"math"
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
// the same number of pops and pushes through the bare typed binary heap
// (one 32-byte entry per pending event, each pop scheduling its successor)
// with no decision logic: a naive event loop's cost, which the engine's
// FIFO lanes and plain-call fast path are to beat, model and machine
// included.
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
			q := queue{naive: true}
			q.init(2 * sc.Fleet.Sessions)
			for i := range 2 * sc.Fleet.Sessions {
				q.push(int64(i)*int64(time.Millisecond), evCall, uint32(i/2), 0)
			}
			for range events {
				e, _ := q.next(math.MaxInt64)
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

// scaleFleet is BenchmarkScale's scenario: BenchmarkSimulate's sessions
// (one call a minute, a one-hour token refreshed five minutes ahead), for
// at least one token lifetime so that each size runs the same mix of
// events; the duration shrinks as the fleet grows.
const scaleFleet = `{name: scale, duration: %s, token: {ttl: 1h}, session: {refresh_ahead: 5m},
	workload: [{kind: requests, every: 1m}], fleet: {sessions: %d, start_spread: 1m}}`

// BenchmarkScale measures the cost per event at a thousand, a hundred
// thousand and a million sessions, with the engine as it is (lanes) and
// with every event through the binary heap and every call through its
// session (heap: the engine before the FIFO lanes and the plain-call fast
// path), in the same run: the ratios of ns/event between sizes, and
// between engines, are the figures to read. The million sessions take
// minutes; run it with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	for _, size := range []struct {
		name     string
		sessions int
		duration string
	}{{"1k", 1000, "240h"}, {"100k", 100_000, "2h"}, {"1M", 1_000_000, "2h"}} {
		sc, err := Parse("scale.yaml", []byte(fmt.Sprintf(scaleFleet, size.duration, size.sessions)))
		if err != nil {
			b.Fatal(err)
		}
		events := Run(sc, Options{}).Events
		for _, engine := range []string{"heap", "lanes"} {
			b.Run("sessions="+size.name+"/engine="+engine, func(b *testing.B) {
				naiveEngine = engine == "heap"
				defer func() { naiveEngine = false }()
				b.ReportAllocs()
				for b.Loop() {
					Run(sc, Options{})
				}
				perEvent(b, events)
			})
		}
	}
}
