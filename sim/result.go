package sim

import (
	"bytes"
	"encoding/json"

	"strconv"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// Result is the outcome of one run, in the shape of docs/SCENARIOS.md. Its JSON
// encoding is the `--json` output; field order is part of the contract.
type Result struct {
	Name   string `json:"name"`
	Seed   uint64 `json:"seed"`
	Passed bool   `json:"passed"`
	// FinalState is the state every session ends in, or "mixed".
	FinalState   string        `json:"final_state"`
	Stats        Stats         `json:"stats"`
	Recoveries   []Recovery    `json:"recoveries"`
	Expectations []Expectation `json:"expectations"`
	// Trace holds every transition when Options.Trace is set, as the
	// audit records a runtime session writes (see Options.OnTransition).
	Trace []audit.Record `json:"trace,omitempty"`

	// Story is the first and last transitions of session StorySession
	// (Options.Session), which the text report's timeline shows; StoryLen
	// is how many it made.
	Story        []audit.Record `json:"-"`
	StoryLen     int            `json:"-"`
	StorySession int            `json:"-"`
	// Failing is the session that made the first failed expectation fail
	// (the invariants first): the one that broke it, went over a limit,
	// first entered a never state, ended in another state, recovered last
	// or never; -1 when the run passed. FailingWhy says how.
	Failing    int    `json:"-"`
	FailingWhy string `json:"-"`
	// Timeline is what the SVG draws, when Options.Timeline is set.
	Timeline *Timeline `json:"-"`
	// Violations are the invariants of docs/DESIGN.md the run broke (the first
	// few of them); any makes the run fail.
	Violations []Violation `json:"-"`
	// Unusable is the time without a usable token, summed over sessions.
	Unusable Total `json:"-"`
	// Sessions and Events describe the run's size.
	Sessions int   `json:"-"`
	Events   int64 `json:"-"`
}

// Stats counts what happened.
type Stats struct {
	Requests         int64 `json:"requests"`
	FailedRequests   int64 `json:"failed_requests"`
	RefreshRequests  int64 `json:"refresh_requests"`
	RefreshSuccesses int64 `json:"refresh_successes"`
	// ThrottledRequests counts the attempts the shared throttle
	// (session.throttle) kept from being sent, which RefreshRequests does
	// not count. It is present only when the scenario has a throttle of
	// a kind other than none.
	ThrottledRequests *int64 `json:"throttled_requests,omitempty"`
	// FamilyRevocations counts the token families revoked by the server's
	// reuse detection or lost to a refusal (a session of the family
	// revoked), each once.
	FamilyRevocations int64 `json:"family_revocations"`
	// StoreRequests counts the round trips to the shared store.
	StoreRequests int64 `json:"store_requests"`
	Transitions   int64 `json:"transitions"`
	// TimeInState lists the states that were entered, in the machine's
	// order, with the time spent in each (summed over sessions: a Total,
	// exact beyond time.Duration's range).
	TimeInState StateDurations `json:"time_in_state"`
	// FinalStates counts sessions per final state when they differ.
	FinalStates StateCounts `json:"final_states,omitempty"`

	events, started int64
}

// StateDurations is a time per state, encoded as a JSON object in the
// machine's state order.
type StateDurations []StateDuration

// StateDuration is the time spent in one state, summed over sessions.
type StateDuration struct {
	State states.State
	Time  Total
}

// MarshalJSON implements json.Marshaler.
func (s StateDurations) MarshalJSON() ([]byte, error) {
	return stateObject(len(s), func(i int) (states.State, string) {
		return s[i].State, strconv.Quote(s[i].Time.String())
	}), nil
}

// stateObject encodes n (state, JSON value) pairs as a JSON object whose
// keys keep the machine's state order (a Go map would sort them).
func stateObject(n int, entry func(i int) (states.State, string)) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		st, v := entry(i)
		b.WriteString(strconv.Quote(st.String()) + ":" + v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// StateCounts is a number of sessions per state, encoded in state order.
type StateCounts []StateCount

// StateCount is the number of sessions in one state.
type StateCount struct {
	State    states.State
	Sessions int
}

// MarshalJSON implements json.Marshaler.
func (s StateCounts) MarshalJSON() ([]byte, error) {
	return stateObject(len(s), func(i int) (states.State, string) {
		return s[i].State, strconv.Itoa(s[i].Sessions)
	}), nil
}

// Recovery reports how long after a fault window's end every session the
// window touched had recovered: a session is touched when, at FaultEnd, it
// holds no usable token or has a refresh cycle open, and it recovers at its
// first successful refresh (or new token from outside) after FaultEnd.
type Recovery struct {
	FaultEnd time.Duration
	// Never reports that some touched session did not recover: it was
	// revoked first, or the run ended.
	Never    bool
	UsableAt time.Duration
	After    time.Duration
	// Touched counts the sessions the window touched. It tells "untouched"
	// (0) from "recovered at that very instant" when After is 0; the JSON
	// result does not carry it.
	Touched int
}

// MarshalJSON implements json.Marshaler: durations as Go duration strings,
// "never" when the sessions did not recover.
func (r Recovery) MarshalJSON() ([]byte, error) {
	usable, after := strconv.Quote(r.UsableAt.String()), strconv.Quote(r.After.String())
	if r.Never {
		usable, after = `"never"`, `"never"`
	}
	return []byte(`{"fault_end":` + strconv.Quote(r.FaultEnd.String()) + `,"usable_at":` + usable + `,"after":` + after + `}`), nil
}

// Expectation is one checked expectation: what the file wants and what the
// run got. Want and Got are a string, a number or a list of state names.
type Expectation struct {
	Name string `json:"name"`
	Want any    `json:"want"`
	Got  any    `json:"got"`
	OK   bool   `json:"ok"`
}

// traceEntry completes rec, session i's transition at virtual instant t,
// as a record of the trace: the session's index as its name, Time and
// NextAt on the run's virtual clock (Epoch plus the offset from the start
// of the run, as the server counts it), and Restarts the times a
// crash_holder fault restarted the session's process: each restart starts
// a new session, whose records do not follow on the crashed one's.
func traceEntry(rec audit.Record, i uint32, t int64, r *run) audit.Record {
	rec.Session = strconv.FormatUint(uint64(i), 10)
	rec.Time = epoch.Add(time.Duration(t))
	rec.Restarts = int(r.restarts[i])
	if !rec.NextAt.IsZero() {
		rec.NextAt = epoch.Add(time.Duration(r.virtual(rec.NextAt)))
	}
	return rec
}

// JSON returns the result as one line of JSON, as `authfsm sim --json`
// prints it.
func (r *Result) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Every field marshals; an error here is a bug in this package.
		panic("sim: cannot marshal result: " + err.Error())
	}
	return b
}

// finish closes the books at the run's end and evaluates the expectations.
func (r *run) finish() *Result {
	end := r.end
	r.countRest()
	r.rec.finish(r)
	var final [numStates]int
	for i := range r.ss {
		s := &r.ss[i]
		if s.tokGen == 0 {
			continue // never started
		}
		r.timeIn[s.d.State()].add(end - s.since)
		if s.usableEnd < end {
			r.unusable.add(end - s.usableEnd)
		}
		final[s.d.State()]++
	}
	res := &Result{
		Name: r.sc.Name, Seed: r.sc.Seed, Stats: r.stats, Timeline: r.tl, Trace: r.trace, Story: r.story.entries(), StoryLen: r.story.n,
		StorySession: r.opt.Session,
		Unusable:     r.unusable, Sessions: len(r.ss), Events: r.stats.events,
		Violations: r.inv.list,
	}
	if r.thr != nil {
		n := r.throttled
		res.Stats.ThrottledRequests = &n
	}
	res.Stats.TimeInState = StateDurations{}
	for _, st := range states.States() {
		if r.entered[st] || r.timeIn[st] != (Total{}) {
			res.Stats.TimeInState = append(res.Stats.TimeInState, StateDuration{st, r.timeIn[st]})
		}
		if final[st] == int(r.stats.started) {
			res.FinalState = st.String()
		}
	}
	if res.FinalState == "" {
		res.FinalState = "mixed"
		for _, st := range states.States() {
			if final[st] > 0 {
				res.Stats.FinalStates = append(res.Stats.FinalStates, StateCount{st, final[st]})
			}
		}
	}
	res.Recoveries = []Recovery{}
	for _, w := range r.rec.windows {
		rc := Recovery{FaultEnd: time.Duration(w.end), UsableAt: time.Duration(w.usableAt), After: time.Duration(w.usableAt - w.end)}
		rc.Never, rc.Touched = w.pending > 0, w.touched
		res.Recoveries = append(res.Recoveries, rc)
	}
	if r.tl != nil {
		r.tl.finish(r)
	}
	res.Expectations = expectations(r.sc, res, r.entered)
	res.Passed = true
	for _, e := range res.Expectations {
		res.Passed = res.Passed && e.OK
	}
	res.Failing, res.FailingWhy = r.culprit(res)
	return res
}
