package conform_test

import (
	"fmt"

	"github.com/authfsm/authfsm/conform"
	"github.com/authfsm/authfsm/sim"
)

// Run a scenario of the library through the runtime and the simulator.
func ExampleRun() {
	sc, err := sim.Load("../testdata/scenarios/502-at-expiry-no-margin.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := conform.Run(sc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("agree:", res.Agree())
	for _, t := range res.Runtime[0][:3] {
		fmt.Println(t)
	}
	// Output:
	// agree: true
	// 1h0m0s valid -expire-> expired (access token expired)
	// 1h0m0s expired -refresh-> refreshing attempt 1 (access token expired)
	// 1h0m0.05s refreshing -fail-> backoff attempt 1 next 1h0m0.75692757s (502 Bad Gateway)
}
