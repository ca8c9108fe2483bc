package benchkit

import (
	"runtime"
	"sync"
	"time"
)

// SamplePeak samples the heap in use every few milliseconds until stop is
// called, which returns the largest sample in bytes.
func SamplePeak() (stop func() uint64) {
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
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		defer mu.Unlock()
		return max(peak, m.HeapInuse)
	}
}
