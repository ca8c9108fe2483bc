package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/authfsm/authfsm/sim"
)

// How a long run reports its progress on stderr (docs/SCENARIOS.md, Limits):
// nothing before it has taken progressAfter; then, on a terminal, a live
// line rewritten in place at most every progressLive, otherwise a plain
// line every progressPlain. Never on stdout, which holds the results.
const (
	progressAfter = 2 * time.Second
	progressLive  = 200 * time.Millisecond
	progressPlain = 5 * time.Second
)

// progressClock and progressLiveOn are the clock and the terminal test of
// progress reports; tests replace them.
var (
	progressClock  = time.Now
	progressLiveOn = isTerminal
)

// progress writes a long command's progress to w.
type progress struct {
	w           io.Writer
	live        bool
	start, last time.Time
	shown       bool
}

func newProgress(stderr io.Writer) *progress {
	return &progress{w: stderr, live: progressLiveOn(stderr), start: progressClock()}
}

// show writes the line line makes, if it is time to.
func (p *progress) show(line func() string) {
	now := progressClock()
	if now.Sub(p.start) < progressAfter {
		return
	}
	gap := progressPlain
	if p.live {
		gap = progressLive
	}
	if p.shown && now.Sub(p.last) < gap {
		return
	}
	p.last, p.shown = now, true
	if p.live {
		fmt.Fprintf(p.w, "\r%s\033[K", line())
		return
	}
	fmt.Fprintln(p.w, line())
}

// done clears a live line.
func (p *progress) done() {
	if p.live && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.shown = false
}

// run returns an Options.Progress that reports cmd's run of file.
func (p *progress) run(cmd, file string) func(sim.Progress) {
	return func(r sim.Progress) {
		p.show(func() string {
			of := ""
			if r.Runs > 0 {
				of = fmt.Sprintf("run %d of %d, ", r.Run, r.Runs)
			}
			pct := 0
			if r.Duration > 0 {
				pct = int(100 * r.At / r.Duration)
			}
			return fmt.Sprintf("authfsm %s: %s: %s%d%% (%v of %v simulated, %d million events, %v)", cmd, file, of, pct,
				r.At.Truncate(time.Second), r.Duration, r.Events/1_000_000, progressClock().Sub(p.start).Truncate(time.Second))
		})
	}
}

// isTerminal reports whether w is a terminal, where a live progress line
// helps rather than litters a log.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
