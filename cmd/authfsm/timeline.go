package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/authfsm/authfsm/sim"
)

const timelineUsage = `usage: authfsm audit timeline --svg OUT FILE

Draws the simulator's timeline picture from FILE, an audit log (JSON lines
of audit records, hash-chained or not: a runtime's, or a simulator's run as
authfsm sim --audit LOG writes it), into the SVG file OUT ("-" for standard
output). Time runs from FILE's first record. With one session the picture
has a band per state and a mark per refresh attempt, coloured by its
outcome; with several, the share of sessions in each state, averaged over
each bin. A legend explains every mark. A log does not record when a token was
usable, which calls failed or when faults began, so those rows are left
out, and each session counts from the start in the state its first record
leaves. Flags may come before or after FILE.

FILE is read as audit verify reads it, a line at a time, so a log of any
length is drawn in memory that grows with its sessions, not its records
(one session's picture of a long log merges what falls in one bin, two per
pixel).
One session's records are drawn in the order of the file; one whose time
goes back (a clock set back) is drawn at the time of the record before it.

The hash chain is not checked (audit verify does that). A log the machine
could not have written is refused, as audit verify refuses it. A record
whose time the picture cannot place is refused, naming its line, seq and
session: a time before 1677-09-21T00:12:43Z or after 2262-04-11T23:47:16Z,
two times more than 292 years apart (the axis is a time.Duration), no time
at all.

  --svg OUT  write the picture to OUT

exit status: 0 drawn, 1 a record is impossible, 2 bad usage, an unreadable
file, a FILE that is not an audit log, or a record whose time the picture
cannot place
`

// runAuditTimeline implements "authfsm audit timeline": exit 0 when the
// picture is drawn, 1 when a record is impossible, 2 for bad usage, an
// unreadable file, one that is not an audit log or a record whose time the
// picture cannot place (a *timeError).
func runAuditTimeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit timeline", stderr)
	out := fs.String("svg", "", `write the picture to this SVG file ("-": standard output)`)
	path, done, code := auditArgs(fs, timelineUsage, args, stdout, stderr)
	if done {
		return code
	}
	if *out == "" {
		say(stderr, "audit timeline", "--svg OUT is required")
		fmt.Fprint(stderr, timelineUsage)
		return exitBadInput
	}
	conf, code, ok := conformFile("audit timeline", path, stderr)
	if !ok {
		return code
	}
	f, err := os.Open(path)
	if err != nil {
		say(stderr, "audit timeline", "%v", err)
		return exitBadInput
	}
	defer f.Close()
	lg, err := scanLog(f)
	if err != nil {
		say(stderr, "audit timeline", "%s: %v", path, err)
		return exitBadInput
	}
	if lg.records == 0 {
		say(stderr, "audit timeline", "%s: no transition to draw", path)
		return exitBadInput
	}
	b := sim.NewLogBuilder(filepath.Base(path), len(lg.ids), axisEnd(lg.span()))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		say(stderr, "audit timeline", "%s: %v", path, err)
		return exitBadInput
	}
	if err := drawLog(f, lg, b); err != nil {
		say(stderr, "audit timeline", "%s: %v", path, err)
		return exitBadInput
	}
	tl := b.Timeline()
	picture := sim.TimelineSVG(tl)
	if *out == "-" {
		fmt.Fprint(stdout, picture)
		return exitOK
	}
	if err := os.WriteFile(*out, []byte(picture), 0o644); err != nil {
		say(stderr, "audit timeline", "%v", err)
		return exitBadInput
	}
	fmt.Fprintf(stdout, "%s: %s of %s over %v drawn to %s\n", path, plural(conf.Transitions, "transition"), plural(len(lg.ids), "session"), lg.span(), *out)
	return exitOK
}

// axisEnd returns where the picture's time axis ends for a log spanning
// span: a little after its last record, on a round value; at the longest
// time.Duration for a span within a twentieth of it.
func axisEnd(span time.Duration) time.Duration {
	margin := span/20 + time.Second
	if span > math.MaxInt64-margin {
		return math.MaxInt64
	}
	end := span + margin
	for _, step := range []time.Duration{time.Second, 10 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour} {
		if end/step <= 60 {
			return (end + step - 1) / step * step
		}
	}
	return end
}
