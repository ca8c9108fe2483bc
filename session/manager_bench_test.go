package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/benchkit"
	"github.com/benbjohnson/clock"
)

const benchKeys = 100_000

func benchManager(b *testing.B) (*Manager, []string) {
	var created atomic.Int64
	m := NewManager(testFactory(&created, clock.New()), WithIdleTimeout(time.Hour))
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%06d", i)
		if _, err := m.Session(context.Background(), keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	return m, keys
}

// walkOrder is the order in which the benchmarks walk the keys: shuffled,
// as a service's users come. A walk in a fixed stride (the benchmark's
// first form) let the hardware prefetcher follow the floor's sessions,
// which were allocated in key order, and hide their cache misses: the
// floor then measured a prefetched walk, not a cache miss per session.
var walkOrder = func() []int32 {
	r := rand.New(rand.NewPCG(1, 2))
	o := make([]int32, benchKeys)
	for i := range o {
		o[i] = int32(i)
	}
	r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
	return o
}()

// versusWalk measures subject against floor in the same run: each
// iteration of b is one round in which GOMAXPROCS goroutines make per calls
// of floor, then per calls of subject, each walking walkOrder from a start
// of its own (so that neither finds the other's keys in the cache). Each
// call gets its key's index and the next call's. It reports the CPU time of
// each per call and their ratio, x-floor, which is the figure to read
// (ns/op is a round's): the 2 shared cores this runs on swing by several
// times with the load, and alternating short rounds puts both sides under
// the same load.
func versusWalk(b *testing.B, per int, floor, subject func(i, next int) int) {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	round := 0
	sums := make([]int, procs*8) // a cache line each
	run := func(fn func(int, int) int, side int) time.Duration {
		t0, _ := benchkit.CPUTime()
		w0 := time.Now()
		var wg sync.WaitGroup
		for g := range procs {
			start := (g*104729/procs + round*7919 + side*50021) % benchKeys
			wg.Go(func() {
				sum := 0
				for j, n := start, 0; n < per; n++ {
					next := j + 1
					if next == benchKeys {
						next = 0
					}
					sum += fn(int(walkOrder[j]), int(walkOrder[next]))
					j = next
				}
				sums[g*8] += sum
			})
		}
		wg.Wait()
		if t1, ok := benchkit.CPUTime(); ok {
			return t1 - t0
		}
		return time.Since(w0) * time.Duration(procs)
	}
	var subj, fl time.Duration
	b.ResetTimer()
	for b.Loop() {
		fl += run(floor, 0)
		subj += run(subject, 1)
		round++
	}
	calls := float64(round * per * procs)
	b.ReportMetric(float64(subj)/calls, "ns/token")
	b.ReportMetric(float64(fl)/calls, "floor-ns/token")
	b.ReportMetric(float64(subj)/float64(fl), "x-floor")
}

// BenchmarkManagerToken: Manager.Token for one of 100,000 keys, on 2
// goroutines, against its floor measured in the same run (versusWalk):
// Session.Token on the same 100,000 sessions walked directly, which pays
// the cache misses of touching 100k sessions that the manager cannot avoid
// either. one-session is Session.Token on one session, all in cache.
func BenchmarkManagerToken(b *testing.B) {
	b.Run("one-session", func(b *testing.B) {
		s, err := New(context.Background(), staticRefresher, Token{Access: "a", Expiry: time.Now().Add(24 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Token(context.Background())
			}
		})
	})
	b.Run("100k-keys", func(b *testing.B) {
		m, keys := benchManager(b)
		defer func() {
			b.StopTimer() // closing 100k sessions is not a Token call
			m.Close()
		}()
		ss := make([]*Session, len(keys))
		for i, k := range keys {
			ss[i], _ = m.Session(context.Background(), k)
		}
		ctx := context.Background()
		direct := func(i, _ int) int {
			t, err := ss[i].Token(ctx)
			if err != nil {
				b.Fatal(err)
			}
			return len(t.Access)
		}
		manager := func(i, _ int) int {
			t, err := m.Token(ctx, keys[i])
			if err != nil {
				b.Fatal(err)
			}
			return len(t.Access)
		}
		// cold-key: the keys come from an array of 100k strings, which
		// misses twice (the string, its bytes) before the lookup starts.
		b.Run("cold-key", func(b *testing.B) { versusWalk(b, 2000, direct, manager) })
		// key-in-hand: a service has the key in its cache (it has just
		// read it from the request it serves); each call reads the next
		// call's key, both sides alike.
		ahead := func(call func(int, int) int) func(int, int) int {
			return func(i, next int) int {
				k := keys[next]
				return int(k[len(k)-1]) + call(i, next)
			}
		}
		b.Run("key-in-hand", func(b *testing.B) { versusWalk(b, 2000, ahead(direct), ahead(manager)) })
	})
}

// BenchmarkManagerMemory reports the heap each key's session costs, the
// manager's share of it included.
func BenchmarkManagerMemory(b *testing.B) {
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, keys := benchManager(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(keys)), "bytes/key")
		runtime.KeepAlive(keys)
		m.Close()
	}
}
