// Package conform runs a scenario through the real runtime and through the
// simulator, and compares their transitions: the proof, scenario by
// scenario, that the simulator's verdict is the runtime's.
//
//	sc, err := sim.Load("testdata/scenarios/502-at-refresh.yaml")
//	…
//	res, err := conform.Run(sc)
//	if err != nil {
//		return err // a fleet too large, a run that stalled
//	}
//	if res.Diff != nil {
//		fmt.Println(res.Diff) // the first transition that differs
//	}
//
// The runtime's side is real session.Session values, one per session of
// the scenario's fleet, each with its token-endpoint oauth.Client and an
// application that calls the resource server through a session.Transport
// at the workload's instants. Their requests are answered in process by
// the scenario's server model (package sim/simserver); the processes of a
// family with share: store coordinate through an in-memory
// session.Coordinator whose round trips take share.latency. Everything
// runs on one Clock, which runs every goroutine of the run itself, one at a
// time, and moves its virtual time only when all of them wait on it: the
// runtime's side of a run is as reproducible as the simulator's.
//
// What must agree (docs/SCENARIOS.md, "authfsm conform"): for every
// session, the sequence of its transitions — virtual time, from, to,
// event, typed reason, cause, attempt, next attempt, the family's
// generation of an adopted pair, the restarts of its process — and, for
// the run, the number of token families lost. The order in which
// transitions of different sessions at one instant are listed is not
// compared; who acted first is, through each one's sequence, and both
// sides order the acts of one instant alike. A process that a
// crash_holder fault crashed starts again as a new Session, as it
// started (docs/SCENARIOS.md, "What a restart is").
package conform

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/sim"
)

// MaxSessions is the largest fleet Run accepts: each session is a real
// Session, with its goroutines, timers and HTTP requests, and the run's
// goroutines take turns on one clock, so that a run costs about a
// thousand times the simulator's (a fleet of 5,000 sessions through an
// outage: some 40 s). Larger fleets are for the simulator alone.
const MaxSessions = 5000

// MaxEvents is the most work Run accepts, in the simulator's estimate of
// the events a run needs with an event per call, as the runtime makes each
// (sim.EstimatePerCall): about a minute of the runtime's.
const MaxEvents = 1_000_000

// ErrTooLarge is matched by the error Run returns for a fleet larger than
// MaxSessions or a run estimated to need more than MaxEvents events.
var ErrTooLarge = errors.New("conform: too large for the runtime")

// Result is the outcome of one comparison.
type Result struct {
	// Name is the scenario's name.
	Name string
	// Simulator and Runtime hold each session's transitions, in order.
	Simulator, Runtime [][]Transition
	// SimulatorLost and RuntimeLost count the token families lost: revoked
	// by the server's reuse detection, or a session of which was denied.
	SimulatorLost, RuntimeLost int
	// Diff is the first difference, nil when the runs agree.
	Diff *Difference
}

// Agree reports whether the runs agree.
func (r *Result) Agree() bool { return r.Diff == nil }

// Run runs sc through the simulator and through the runtime and compares
// them. It fails with ErrTooLarge for a fleet larger than MaxSessions or a
// run longer than MaxEvents, and
// with ErrStalled when a goroutine of the runtime's run blocked outside
// its clock.
func Run(sc *sim.Scenario) (*Result, error) {
	if n := sc.Fleet.Sessions; n > MaxSessions {
		return nil, fmt.Errorf("%w: a fleet of %d sessions, at most %d run as real sessions", ErrTooLarge, n, MaxSessions)
	}
	if n := sim.EstimatePerCall(sc); n > MaxEvents {
		return nil, fmt.Errorf("%w: the run needs about %d events, at most %d run through the runtime", ErrTooLarge, n, MaxEvents)
	}
	res := &Result{Name: sc.Name, Simulator: make([][]Transition, sc.Fleet.Sessions)}
	sr := sim.Run(sc, sim.Options{OnTransition: func(rec audit.Record) {
		i, err := strconv.Atoi(rec.Session)
		if err != nil || i < 0 || i >= len(res.Simulator) {
			panic("conform: the simulator's trace names session " + rec.Session) // sim.Options.OnTransition
		}
		res.Simulator[i] = append(res.Simulator[i], fromRecord(i, rec, 0))
	}})
	res.SimulatorLost = int(sr.Stats.FamilyRevocations)
	var err error
	if res.Runtime, res.RuntimeLost, err = runRuntime(sc); err != nil {
		return nil, err
	}
	res.Diff = compare(res.Simulator, res.Runtime, res.SimulatorLost, res.RuntimeLost)
	return res, nil
}
