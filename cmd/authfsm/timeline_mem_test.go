package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/benchkit"
)

// writeLongLog writes an unchained runtime audit log of records transitions
// of sessions sessions, one a second from 2026-03-01 11:00 UTC, each session
// going round valid, refreshing, backoff, refreshing, valid: a failed
// refresh and a retried one that succeeds.
func writeLongLog(t testing.TB, path string, records, sessions int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	cycle := []struct{ from, to, event, cause string }{
		{"valid", "refreshing", "refresh_ahead", "refresh-ahead point reached"},
		{"refreshing", "backoff", "fail", "502 Bad Gateway"},
		{"backoff", "refreshing", "retry", "backoff elapsed"},
		{"refreshing", "valid", "succeed", ""},
	}
	t0 := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for i := range records {
		c := cycle[i/sessions%len(cycle)]
		fmt.Fprintf(w, `{"seq":%d,"time":"%s","session":"s%d","from":"%s","to":"%s","event":"%s","cause":"%s","attempt":1}`+"\n",
			i+1, t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i%sessions, c.from, c.to, c.event, c.cause)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// timelinePeak runs "authfsm audit timeline" on a log of records
// transitions of sessions sessions and returns the peak heap in use while
// it ran, in bytes.
func timelinePeak(t testing.TB, records, sessions int) uint64 {
	t.Helper()
	dir := t.TempDir()
	log, out := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "out.svg")
	writeLongLog(t, log, records, sessions)
	runtime.GC()
	stop := benchkit.SamplePeak()
	code := run([]string{"audit", "timeline", "--svg", out, log}, io.Discard, io.Discard)
	peak := stop()
	if code != exitOK {
		t.Fatalf("audit timeline on %d records of %d sessions: exit %d", records, sessions, code)
	}
	return peak
}

// TestAuditTimelineMemoryBounded: "authfsm audit timeline" streams a log as
// "audit verify" does, so its peak heap does not grow with the number of
// records: ten times the records, of one session or of a hundred, take
// about the same heap. It held every record (about 210 bytes each), so ten
// times the records took about ten times the heap (1.9 GB for 10 million).
func TestAuditTimelineMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and draws logs of 200,000 records")
	}
	n := 20_000
	if raceEnabled {
		n = 10_000 // the same bound on a fraction of the records
	}
	for _, sessions := range []int{1, 100} {
		small, large := timelinePeak(t, n, sessions), timelinePeak(t, 10*n, sessions)
		t.Logf("%d session(s): peak heap %.1f MiB for %d records, %.1f MiB for %d", sessions, mib(small), n, mib(large), 10*n)
		if large > 2*small {
			t.Errorf("%d session(s): peak heap %.1f MiB for %d records, %.1f MiB for %d: it grows with the log", sessions, mib(small), n, mib(large), 10*n)
		}
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkTimelineMemory draws the timeline of a log of a million records
// of 100 sessions (180 MB) and reports the peak heap in use: 5.4 MiB here,
// where holding every record took 189 MiB. Run it alone, with -benchtime
// 1x.
func BenchmarkTimelineMemory(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(mib(timelinePeak(b, 1_000_000, 100)), "peak-heap-MiB")
	}
}
