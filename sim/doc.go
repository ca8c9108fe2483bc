// Package sim is the deterministic simulator: it replays days of token
// expiry, outages and misbehaving proxies in milliseconds, reproducibly
// from a seed, to prove a client's behaviour before production.
//
//	sc, err := sim.Load("testdata/scenarios/502-at-refresh.yaml")
//	if err != nil {
//		return err // an *sim.Error naming the file and line
//	}
//	res := sim.Run(sc, sim.Options{})
//	fmt.Println(res.Passed, res.FinalState)
//
// A Scenario (parsed from a YAML file by Parse or Load) describes the token
// server and its faults, the client session and its retry policy, the
// application's workload, an optional fleet of sessions, and expectations.
// Run drives every session with the same states.Machine and policy values
// that the runtime uses, on a virtual clock: a priority queue of events
// ordered by (time, sequence number), processed on one goroutine, with no
// wall clock and no network. The token server is a model that issues
// token pairs, rotates refresh tokens, applies clock skew, latency, faults
// and a capacity, and whose resource server judges access tokens by its
// own clock. Sessions may be split into refresh-token families, processes
// of one client that either refresh their own copies or coordinate through
// a shared store following session.Coordinator's protocol step for step
// (see share.go). The same scenario and seed give byte-identical results.
//
// The queue keeps the order of a binary heap by (time, sequence), but holds
// the events scheduled a recurring delay after the current instant (the
// next periodic call, a refresh's answer, the next refresh point) in FIFO
// lanes, and counts a session's calls without touching it while they are
// plain; its cost per event stays nearly flat from a thousand sessions to a
// million (BenchmarkScale). Estimate tells before a run how many events it
// needs; Options.OnTransition streams the trace and Options.Progress
// reports a long run's progress, so neither memory nor silence grows with
// the run.
//
// Besides the scenario's expectations, every run checks the invariants of
// the machine and reports a broken one as a failed "invariants"
// expectation. Compare runs a scenario under each built-in policy; Fuzz
// draws random scenarios, checks them and Shrinks a failure to a minimal
// scenario that MarshalYAML writes as a file.
//
// Package sim/simserver serves the same server model over net/http, for
// real client code; package conform (authfsm conform) runs a scenario
// through the runtime against it and compares the transitions with Run's.
package sim
