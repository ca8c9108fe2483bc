package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// traceEntries turns a run's trace into the entries a log gives.
func traceEntries(t *testing.T, trace []audit.Record) []LogEntry {
	t.Helper()
	out := make([]LogEntry, len(trace))
	for i, e := range trace {
		at, err := time.ParseDuration(atOf(e))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = LogEntry{At: at, Session: sessionOf(e), From: e.From, To: e.To, Event: e.Event, Cause: e.Cause,
			Reason: e.Reason, Sent: e.Sent, Class: e.Class}
	}
	return out
}

// TestLogTimelineIsTheRunsTimeline: built from a run's trace, LogTimeline
// gives the model the run built from its transitions: one session's spans
// and attempts, a fleet's samples. Only what a log does not hold differs.
func TestLogTimelineIsTheRunsTimeline(t *testing.T) {
	for _, name := range []string{"503-outage-longer-than-ttl", "429-retry-after", "fleet-outage-no-jitter"} {
		sc, err := Load("../testdata/scenarios/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		res := Run(sc, Options{Trace: true, Timeline: true})
		want := res.Timeline
		got := LogTimeline(want.name, want.sessions, want.duration, traceEntries(t, res.Trace))
		if !got.fromLog || got.step != want.step {
			t.Errorf("%s: Log %t, step %v; want true, %v", name, got.fromLog, got.step, want.step)
		}
		if !want.fleet() { // a fleet's run draws one session's rows too, its log's picture none
			if diff := cmp.Diff(want.spans, got.spans); diff != "" {
				t.Errorf("%s: spans (-run +log):\n%s", name, diff)
			}
			if diff := cmp.Diff(want.attempts, got.attempts); diff != "" {
				t.Errorf("%s: attempts (-run +log):\n%s", name, diff)
			}
		}
		if diff := cmp.Diff(want.shares, got.shares, approx); diff != "" {
			t.Errorf("%s: shares (-run +log):\n%s", name, diff)
		}
		if len(want.spans)+len(want.shares) == 0 {
			t.Errorf("%s: nothing compared", name)
		}
		svg := TimelineSVG(got)
		if strings.Contains(svg, "usable token") || strings.Contains(svg, "failed calls") || !strings.Contains(svg, "from its first record") {
			t.Errorf("%s: the log's picture draws what a log does not hold, or does not say it is a log's", name)
		}
	}
}

// TestLogTimelineEdges: sessions count from the start in the state their
// first record leaves, times are clamped, entries sorted, and attempts that
// sent nothing are not drawn.
func TestLogTimelineEdges(t *testing.T) {
	es := []LogEntry{
		{At: 50 * time.Second, Session: 0, From: states.Refreshing, To: states.Valid, Event: states.Succeed, Sent: true},
		{At: 10 * time.Second, Session: 0, From: states.Valid, To: states.Refreshing, Event: states.RefreshAhead},
		{At: 20 * time.Second, Session: 0, From: states.Refreshing, To: states.Backoff, Event: states.Fail, Reason: states.ReasonThrottled},
		{At: 30 * time.Second, Session: 0, From: states.Backoff, To: states.Refreshing, Event: states.Retry},
		{At: 40 * time.Second, Session: 0, From: states.Refreshing, To: states.Backoff, Event: states.Fail,
			Reason: states.ReasonTransient, Sent: true, Class: policy.RateLimited},
		{At: 45 * time.Second, Session: 0, From: states.Backoff, To: states.Refreshing, Event: states.Retry},
	}
	tl := LogTimeline("one", 1, time.Minute, es)
	wantSpans := []span{
		{0, 10 * time.Second, states.Valid}, {10 * time.Second, 20 * time.Second, states.Refreshing},
		{20 * time.Second, 30 * time.Second, states.Backoff}, {30 * time.Second, 40 * time.Second, states.Refreshing},
		{40 * time.Second, 45 * time.Second, states.Backoff}, {45 * time.Second, 50 * time.Second, states.Refreshing},
		{50 * time.Second, time.Minute, states.Valid},
	}
	if diff := cmp.Diff(wantSpans, tl.spans); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	wantAttempts := []attemptMark{{30 * time.Second, 40 * time.Second, policy.RateLimited}, {45 * time.Second, 50 * time.Second, policy.OK}}
	if diff := cmp.Diff(wantAttempts, tl.attempts); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	// Two sessions, one first seen in expired; a time past the end; a
	// transition 40% into its bin of 250 ms.
	tl = LogTimeline("two", 2, 100*time.Second, []LogEntry{
		{At: 40*time.Second + 100*time.Millisecond, Session: 1, From: states.Expired, To: states.Refreshing, Event: states.Refresh},
		{At: 500 * time.Second, Session: 0, From: states.Valid, To: states.Expired, Event: states.Expire},
	})
	if n := len(tl.shares); n != timelineBins {
		t.Fatalf("%d bins, want %d", n, timelineBins)
	}
	first, within, mid, last := tl.shares[0], tl.shares[160], tl.shares[200], tl.shares[timelineBins-1]
	if first[states.Valid] != 1 || first[states.Expired] != 1 || mid[states.Refreshing] != 1 || mid[states.Valid] != 1 || last[states.Valid] != 1 ||
		math.Abs(within[states.Expired]-0.4) > 1e-9 || math.Abs(within[states.Refreshing]-0.6) > 1e-9 {
		t.Errorf("bins at 0, 40 s, 50 s, 100 s: %v %v %v %v", first, within, mid, last)
	}
}

// TestLogTimelineLegacy: a log written before records said what was sent
// draws every answer out of refreshing by its event, whatever its words.
func TestLogTimelineLegacy(t *testing.T) {
	tl := LogTimeline("old", 1, time.Minute, []LogEntry{
		{At: 10 * time.Second, Session: 0, From: states.Valid, To: states.Refreshing, Event: states.RefreshAhead},
		{At: 20 * time.Second, Session: 0, From: states.Refreshing, To: states.Backoff, Event: states.Fail, Cause: policy.ThrottledCause},
		{At: 30 * time.Second, Session: 0, From: states.Backoff, To: states.Refreshing, Event: states.Retry},
		{At: 40 * time.Second, Session: 0, From: states.Refreshing, To: states.Revoked, Event: states.Deny},
	})
	want := []attemptMark{{10 * time.Second, 20 * time.Second, policy.Transient}, {30 * time.Second, 40 * time.Second, policy.Permanent}}
	if diff := cmp.Diff(want, tl.attempts); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}
