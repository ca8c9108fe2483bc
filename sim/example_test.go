package sim_test

import (
	"fmt"

	"github.com/authfsm/authfsm/sim"
)

// A scenario in a few lines: a proxy answers 502 while the token expires.
func ExampleRun() {
	sc, err := sim.Parse("example.yaml", []byte(`
name: example
duration: 2h
token: {ttl: 1h}
session: {wait_for_refresh: 2m}
server:
  faults:
    - {from: 59m, to: 1h1m, kind: status, status: 502}
workload:
  - {kind: requests, every: 1m}
expect: {final_state: valid, never_states: [revoked], max_failed_requests: 0}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res := sim.Run(sc, sim.Options{})
	fmt.Println("passed:", res.Passed, "final state:", res.FinalState)
	fmt.Println("calls:", res.Stats.Requests, "failed:", res.Stats.FailedRequests)
	for _, e := range res.Expectations {
		fmt.Println(e.Name, e.OK)
	}
	// Output:
	// passed: true final state: valid
	// calls: 120 failed: 0
	// final_state true
	// never_states true
	// max_failed_requests true
}

// Errors name the file, the line and the key.
func ExampleParse_error() {
	_, err := sim.Parse("typo.yaml", []byte("name: t\nduration: 1h\ntoken:\n  ttl: 1h\n  rotat: true\n"))
	fmt.Println(err)
	// Output:
	// sim: typo.yaml:5: token.rotat: unknown key (known: ttl, refresh_ttl, rotate, reuse_grace, omit_expires_in, reuse_detection)
}

// Compare runs one scenario under each built-in policy.
func ExampleCompare() {
	sc, err := sim.Load("../testdata/scenarios/502-at-expiry-no-margin.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range sim.Compare(sc).Rows {
		fmt.Printf("%-45s failed calls %d\n", row.Policy, row.FailedRequests)
	}
	// Output:
	// none                                          failed calls 1
	// constant 1s jitter=none                       failed calls 0
	// exponential 1s×2 max 1m0s jitter=none         failed calls 0
	// exponential 1s×2 max 1m0s jitter=full         failed calls 0
	// exponential 1s×2 max 1m0s jitter=equal        failed calls 0
	// exponential 1s×2 max 1m0s jitter=decorrelated failed calls 0
}
