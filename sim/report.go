package sim

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Report writes the readable result of a run of sc: a verdict line that
// names the seed and every option (and the profile its session block came
// from, Scenario.Profile), the expectations, the numbers, and a
// compact timeline of one session's state changes (Result.StorySession).
// reproduce is the command line that reruns the run, which a failing report
// ends with; empty, it ends without one.
func Report(w io.Writer, sc *Scenario, res *Result, reproduce string) {
	verdict := "PASS"
	if !res.Passed {
		verdict = "FAIL"
	}
	sessions := plural(sc.Fleet.Sessions, "session")
	if f := sc.Fleet.Families; f > 0 {
		if f == 1 {
			sessions += " in 1 family"
		} else {
			sessions += " in " + strconv.Itoa(f) + " families"
		}
		if sc.Share.Kind == ShareStore {
			sessions += " sharing a store (lease " + sc.Session.Lease.String() + ")"
		} else {
			sessions += " sharing nothing"
		}
	}
	if sc.Fleet.Sessions > 1 {
		if c := sc.Fleet.ServerCapacity; c > 0 {
			sessions += ", server capacity " + strconv.Itoa(c) + "/s"
		}
		if sc.Fleet.StartSpread > 0 {
			sessions += ", start spread " + sc.Fleet.StartSpread.String()
		}
	}
	pol := describePolicy(sc.Session.Policy)
	if th := sc.Session.Throttle; th.Kind == policy.ThrottleAdaptive {
		pol += ", throttle " + describeThrottle(th)
	}
	if sc.Profile != "" {
		pol = "profile " + sc.Profile + ", policy " + pol
	} else {
		pol = "policy " + pol
	}
	fmt.Fprintf(w, "%s %s  seed %d, %s, refresh ahead %v, %s, %v simulated\n",
		verdict, res.Name, res.Seed, pol, sc.Session.RefreshAhead, sessions, sc.Duration)
	if len(res.Expectations) > 0 {
		fmt.Fprintln(w, "  expectations:")
		width := 21
		for _, e := range res.Expectations {
			width = max(width, len(e.Name))
		}
		for _, e := range res.Expectations {
			mark := "ok  "
			if !e.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "    %s  %-*s want %-16s got %s\n", mark, width, e.Name, show(e.Want, true), show(e.Got, false))
		}
	}
	st := res.Stats
	throttled := ""
	if st.ThrottledRequests != nil {
		throttled = fmt.Sprintf(", throttled locally %d", *st.ThrottledRequests)
	}
	fmt.Fprintf(w, "  calls: %d, failed %d; refresh requests: %d, succeeded %d%s; transitions: %d\n",
		st.Requests, st.FailedRequests, st.RefreshRequests, st.RefreshSuccesses, throttled, st.Transitions)
	switch {
	case sc.Fleet.Families > 0 && sc.Share.Kind == ShareStore:
		fmt.Fprintf(w, "  token families revoked: %d; shared-store round trips: %d\n", st.FamilyRevocations, st.StoreRequests)
	case sc.Fleet.Families > 0 || st.FamilyRevocations > 0:
		fmt.Fprintf(w, "  token families revoked: %d\n", st.FamilyRevocations)
	}
	var parts []string
	for _, e := range st.TimeInState {
		parts = append(parts, e.State.String()+" "+e.Time.Round(time.Millisecond).String())
	}
	if res.Sessions > 1 {
		// Times summed over the sessions: a fleet's "valid 2399131h" is
		// 100,000 sessions' day, not a century.
		fmt.Fprintf(w, "  time in state (sum over %d sessions): %s; without a usable token (sum): %v\n", res.Sessions,
			strings.Join(parts, ", "), res.Unusable.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  time in state: %s; without a usable token: %v\n", strings.Join(parts, ", "), res.Unusable.Round(time.Millisecond))
	}
	if len(st.FinalStates) > 0 {
		parts = parts[:0]
		for _, e := range st.FinalStates {
			parts = append(parts, e.State.String()+" "+strconv.Itoa(e.Sessions))
		}
		fmt.Fprintf(w, "  final states: %s\n", strings.Join(parts, ", "))
	}
	for _, rc := range res.Recoveries {
		switch {
		case rc.Never:
			fmt.Fprintf(w, "  recovery after the fault window ending %v: never\n", rc.FaultEnd)
		case rc.After == 0 && rc.Touched == 0:
			// No session lacked a token or had a refresh cycle open.
			fmt.Fprintf(w, "  recovery after the fault window ending %v: immediate (tokens still usable)\n", rc.FaultEnd)
		case rc.After == 0:
			// Refreshed at the very instant the window ended: the window
			// did touch them.
			fmt.Fprintf(w, "  recovery after the fault window ending %v: 0s (%d session(s) refreshed at that instant)\n", rc.FaultEnd, rc.Touched)
		default:
			fmt.Fprintf(w, "  recovery after the fault window ending %v: %v (usable at %v)\n", rc.FaultEnd,
				rc.After.Round(time.Millisecond), rc.UsableAt.Round(time.Millisecond))
		}
	}
	for _, v := range res.Violations {
		fmt.Fprintf(w, "  INVARIANT BROKEN: %s\n", v)
	}
	writeStory(w, res)
	if !res.Passed && reproduce != "" {
		fmt.Fprintf(w, "  reproduce: %s\n", reproduce)
	}
}

// Story lengths: a long run shows its first and last transitions.
const (
	storyHead = 14
	storyTail = 10
)

// story keeps the first storyHead and the last storyTail transitions of
// one session (Options.Session), however many it makes.
type story struct {
	head []audit.Record
	tail [storyTail]audit.Record
	n    int
}

func (s *story) add(e audit.Record) {
	if len(s.head) < storyHead {
		s.head = append(s.head, e)
	} else {
		s.tail[(s.n-storyHead)%storyTail] = e
	}
	s.n++
}

// entries returns the kept transitions in order.
func (s *story) entries() []audit.Record {
	out := append([]audit.Record(nil), s.head...)
	kept := min(s.n-len(s.head), storyTail)
	for k := range kept {
		out = append(out, s.tail[(s.n-storyHead-kept+k)%storyTail])
	}
	return out
}

// writeStory writes the timeline of session res.StorySession (and why it
// is that one when it made the run fail), or with a trace every session's.
func writeStory(w io.Writer, res *Result) {
	entries, total, title := res.Story, res.StoryLen, "timeline"
	if res.Sessions > 1 {
		title = "timeline of session " + strconv.Itoa(res.StorySession)
		if res.StorySession == res.Failing {
			title += " (" + res.FailingWhy + ")"
		}
	}
	if res.Trace != nil {
		entries, total, title = res.Trace, len(res.Trace), "trace"
	}
	if len(entries) == 0 {
		fmt.Fprintln(w, "  timeline: no state changes")
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for k, e := range entries {
		if k == storyHead && total > len(entries) {
			fmt.Fprintf(w, "    … %d more transitions …\n", total-len(entries))
		}
		fmt.Fprintln(w, TraceLine(e, res.Trace != nil && res.Sessions > 1))
	}
}

// TraceLine is the transition rec of a trace (Options.OnTransition) as the
// text report shows it, indented, with its time as the offset from the
// start of the run and, when withSession is set, the session's index.
func TraceLine(rec audit.Record, withSession bool) string {
	at := offset(rec.Time)
	line := fmt.Sprintf("    %12s  %-10s → %-10s %-13s %s", at, rec.From, rec.To, rec.Event, rec.Cause)
	if withSession {
		line = fmt.Sprintf("    %12s  session %-5s %-10s → %-10s %-13s %s", at, rec.Session, rec.From, rec.To, rec.Event, rec.Cause)
	}
	if rec.Event == states.Fail {
		line += fmt.Sprintf(" (attempt %d, next at %s)", rec.Attempt, offset(rec.NextAt))
	}
	return strings.TrimRight(line, " ")
}

// offset is the virtual instant t as the offset from the start of the
// run, rounded to the millisecond, for reading; "" for no instant.
func offset(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ms(t.Sub(epoch).String())
}

// ms rounds a duration string to the millisecond, for reading.
func ms(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return d.Round(time.Millisecond).String()
}

// show formats an expectation value; wants of limits read "≤ n".
func show(v any, want bool) string {
	switch x := v.(type) {
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case int64:
		if want {
			return "≤ " + strconv.FormatInt(x, 10)
		}
		return strconv.FormatInt(x, 10)
	case string:
		if _, err := time.ParseDuration(x); err == nil {
			x = ms(x)
			if want {
				x = "≤ " + x
			}
		}
		return x
	}
	return fmt.Sprint(v)
}

// describePolicy returns a one-line description of a policy spec.
func describePolicy(s policy.Spec) string {
	lim := ""
	if s.MaxAttempts > 0 {
		lim += fmt.Sprintf(" max_attempts=%d", s.MaxAttempts)
	}
	if s.MaxElapsed > 0 {
		lim += " max_elapsed=" + s.MaxElapsed.String()
	}
	switch s.Kind {
	case "none":
		return "none"
	case "constant":
		return fmt.Sprintf("constant %v jitter=%v%s", s.Initial, s.Jitter, lim)
	}
	return fmt.Sprintf("exponential %v×%v max %v jitter=%v%s", s.Initial, s.Multiplier, durOrNone(s.Max), s.Jitter, lim)
}

// describeThrottle names a throttle as reports show it: "none", or
// "adaptive k=2 window 2m0s probe 30s".
func describeThrottle(s policy.ThrottleSpec) string {
	if s.Kind != policy.ThrottleAdaptive {
		return policy.ThrottleNone
	}
	return fmt.Sprintf("adaptive k=%v window %v probe %v", s.K, s.Window, s.Probe)
}

func durOrNone(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}
