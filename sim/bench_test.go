package sim

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/benchkit"
)

// BenchmarkSimulate measures the simulator on a fleet's day
// (testdata/bench/day-10k.yaml: 10,000 sessions, a call a minute each)
// against the floor in the same run: a bare binary-heap event loop with
// one 24-byte entry per session, each pop scheduling its successor, run
// for as many events as the day has calls and other events (14.9 million:
// an event per call, as the engine made before it counted plain calls in
// closed form). x-floor is the figure to read; the goal is at most 0.6.
// ns/event is the run's CPU per one of those events; events/op counts
// them, engine-events/op the engine's own.
func BenchmarkSimulate(b *testing.B) {
	sc, err := Load("../testdata/bench/day-10k.yaml")
	if err != nil {
		b.Fatal(err)
	}
	res := Run(sc, Options{})
	b.ReportAllocs()
	benchkit.VersusFloor(b, perCallEvents(res), sc.Fleet.Sessions, sc.Fleet.StartSpread/time.Duration(sc.Fleet.Sessions), sc.Workload[0].Every,
		func() { Run(sc, Options{}) })
	b.ReportMetric(float64(res.Events), "engine-events/op")
}

// BenchmarkFamilies is BenchmarkSimulate's fleet split into 2,500 token
// families of four processes sharing a store: the coordination protocol's
// round trips are events too, and cost no allocation. ns/event is per
// event of an event per call (perCallEvents), as BenchmarkSimulate's.
func BenchmarkFamilies(b *testing.B) {
	day, err := os.ReadFile("../testdata/bench/day-10k.yaml")
	if err != nil {
		b.Fatal(err)
	}
	src := strings.NewReplacer("  ttl: 1h\n", "  ttl: 1h\n  rotate: true\n  reuse_detection: true\n",
		"  sessions: 10000\n", "  sessions: 10000\n  families: 2500\n").Replace(string(day)) + "share: {kind: store}\n"
	sc, err := Parse("families.yaml", []byte(src))
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
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(perCallEvents(res))
	b.ReportMetric(ns, "ns/event")
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
		stop := benchkit.SamplePeak()
		res := Run(sc, Options{})
		p := stop()
		if res.Stats.Requests != 7*int64(sc.Fleet.Sessions) {
			b.Fatalf("%d calls, want 7 per session", res.Stats.Requests)
		}
		b.ReportMetric(float64(p-base.HeapInuse)/float64(sc.Fleet.Sessions), "bytes/session")
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MiB")
	}
}

// scaleFleet is BenchmarkScale's scenario: day-10k's sessions (one call a
// minute, a one-hour token refreshed five minutes ahead), for at least one
// token lifetime so that each size runs the same mix of events; the
// duration shrinks as the fleet grows.
const scaleFleet = `{name: scale, duration: %s, token: {ttl: 1h}, session: {refresh_ahead: 5m},
	workload: [{kind: requests, every: 1m}], fleet: {sessions: %d, start_spread: 1m}}`

// BenchmarkScale measures the cost per event at a thousand, a hundred
// thousand and a million sessions in the same run, and reports each and
// the ratio of the largest to the smallest (x-1k-at-1M), the figure to
// read: the goal is at most 2. The events are those of an event per call
// (perCallEvents), the same mix at every size. The million sessions take a
// while; run it with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	sizes := []struct {
		name     string
		sessions int
		duration string
	}{{"1k", 1000, "240h"}, {"100k", 100_000, "2h"}, {"1M", 1_000_000, "2h"}}
	scs := make([]*Scenario, len(sizes))
	events := make([]int64, len(sizes))
	for k, size := range sizes {
		sc, err := Parse("scale.yaml", []byte(fmt.Sprintf(scaleFleet, size.duration, size.sessions)))
		if err != nil {
			b.Fatal(err)
		}
		scs[k], events[k] = sc, perCallEvents(Run(sc, Options{}))
	}
	spent := make([]time.Duration, len(sizes))
	for b.Loop() {
		for k, sc := range scs {
			t0 := time.Now()
			Run(sc, Options{})
			spent[k] += time.Since(t0)
		}
	}
	perEvent := func(k int) float64 { return float64(spent[k]) / float64(b.N) / float64(events[k]) }
	for k, size := range sizes {
		b.ReportMetric(perEvent(k), "ns/event-"+size.name)
	}
	b.ReportMetric(perEvent(len(sizes)-1)/perEvent(0), "x-1k-at-1M")
}

// dayEvery returns testdata/bench/day-10k.yaml with a call every every
// instead of every minute.
func dayEvery(b *testing.B, every time.Duration) *Scenario {
	b.Helper()
	day, err := os.ReadFile("../testdata/bench/day-10k.yaml")
	if err != nil {
		b.Fatal(err)
	}
	src := strings.Replace(string(day), "{kind: requests, every: 1m}", "{kind: requests, every: "+every.String()+"}", 1)
	sc, err := Parse("day-"+every.String()+".yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	if len(sc.Workload) != 1 || sc.Workload[0].Every != every {
		b.Fatalf("day-10k.yaml no longer has one call a minute: %+v", sc.Workload)
	}
	return sc
}

// BenchmarkCallRate runs BenchmarkSimulate's day (10,000 sessions, 24 h)
// with a call a minute and with a call a second (60 times the calls), one
// after the other in each iteration, and reports the CPU time of each and
// their ratio, x-1s-at-1m: the figure to read, whose goal is at most 1.5
// (the calls that change nothing are counted, not simulated one by one).
func BenchmarkCallRate(b *testing.B) {
	minute, second := dayEvery(b, time.Minute), dayEvery(b, time.Second)
	var cpu [2]time.Duration
	for b.Loop() {
		for k, sc := range []*Scenario{minute, second} {
			t0 := cpuNow()
			res := Run(sc, Options{})
			cpu[k] += cpuNow() - t0
			if want := int64(sc.Fleet.Sessions) * int64(sc.Duration/sc.Workload[0].Every); res.Stats.Requests < want*99/100 {
				b.Fatalf("%s: %d calls, want about %d", sc.Name, res.Stats.Requests, want)
			}
		}
	}
	per := func(k int) float64 { return float64(cpu[k]) / float64(b.N) / 1e9 }
	b.ReportMetric(per(0), "cpu-s-1m")
	b.ReportMetric(per(1), "cpu-s-1s")
	b.ReportMetric(per(1)/per(0), "x-1s-at-1m")
}

// cpuNow is the process's CPU time where the system gives it, else the
// elapsed time.
func cpuNow() time.Duration {
	if d, ok := benchkit.CPUTime(); ok {
		return d
	}
	return time.Duration(time.Now().UnixNano())
}

// perCallEvents is about how many events res's run took when every call
// was one: its calls (each made by one event, a burst's excepted) and the
// engine's other events.
func perCallEvents(res *Result) int64 { return res.Stats.Requests + res.Events }
