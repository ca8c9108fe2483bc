package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock replaces the progress clock with one that advances step at
// every reading.
func fakeClock(t *testing.T, step time.Duration) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Cleanup(func() { progressClock, progressLiveOn = time.Now, isTerminal })
	progressClock = func() time.Time {
		now = now.Add(step)
		return now
	}
}

// TestProgressPacing: nothing before 2 s; then a plain line every 5 s, or
// a live line every 200 ms on a terminal, cleared at the end.
func TestProgressPacing(t *testing.T) {
	fakeClock(t, 100*time.Millisecond)
	for _, live := range []bool{false, true} {
		progressLiveOn = func(io.Writer) bool { return live }
		var b bytes.Buffer
		p := newProgress(&b)
		n := 0
		for range 200 { // 20 s at 100 ms a reading
			p.show(func() string { n++; return "authfsm sim: x: step" })
		}
		p.done()
		switch {
		case !live && (n != 4 || b.String() != strings.Repeat("authfsm sim: x: step\n", 4)):
			t.Errorf("plain: %d lines, %q; want one every 5 s after the first 2 s", n, b.String())
		case live && (n < 80 || n > 100 || !strings.HasPrefix(b.String(), "\rauthfsm sim: x: step\033[K") || !strings.HasSuffix(b.String(), "\r\033[K")):
			t.Errorf("live: %d lines, %q…; want one every 200 ms, rewritten in place, cleared", n, b.String()[:40])
		}
	}
}

// TestSimProgress: a run of a few million events reports its progress on
// stderr, never on stdout. Its events are refreshes (a minute's tokens,
// refreshed every 30 s): plain calls are counted, not events.
func TestSimProgress(t *testing.T) {
	fakeClock(t, 3*time.Second)
	progressLiveOn = func(io.Writer) bool { return false }
	file := filepath.Join(t.TempDir(), "long.yaml")
	src := "name: long\nduration: 2h\ntoken: {ttl: 1m}\nworkload: [{kind: requests, every: 1m}]\nfleet: {sessions: 5000, start_spread: 1m}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("sim", "--json", file)
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != exitOK || len(lines) < 2 || !strings.HasPrefix(lines[0], "authfsm sim: "+file+": ") ||
		!strings.Contains(lines[0], "% (") || !strings.Contains(lines[0], "of 2h0m0s simulated, 1 million events") || strings.Contains(out, "authfsm sim:") {
		t.Errorf("exit %d\nstderr %q\nstdout %q", code, errOut, out)
	}
	code, _, errOut = runCLI("compare", file)
	if code != exitOK || !strings.Contains(errOut, "authfsm compare: "+file+": run 1 of 6, ") || !strings.Contains(errOut, "run 6 of 6, ") {
		t.Errorf("compare: exit %d, stderr %q", code, errOut)
	}
}
