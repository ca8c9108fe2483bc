package states_test

import (
	"fmt"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// The caller feeds the machine what happened and performs what it returns:
// here the token expires, the refresh meets a proxy's 502, and the retry
// succeeds.
func ExampleMachine() {
	m := states.NewMachine(states.Config{Policy: policy.Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := states.NewData(1, t0, t0.Add(time.Hour))

	show := func(fx states.Effects) {
		for _, tr := range fx.Transitions() {
			fmt.Printf("%v -> %v on %v (%s)\n", tr.From, tr.To, tr.Event, tr.Cause())
		}
	}

	now := t0.Add(time.Hour) // the expiry wake-up
	d, fx := m.Step(d, states.Input{Kind: states.InWake}, now)
	show(fx)

	verdict := policy.Classify(policy.Outcome{Status: 502})
	d, fx = m.Step(d, states.Input{Kind: states.InResult, Flight: fx.Flight, Verdict: verdict}, now)
	show(fx)
	fmt.Println("retry in", fx.WakeAt.Sub(now))

	now = fx.WakeAt
	d, fx = m.Step(d, states.Input{Kind: states.InWake}, now)
	show(fx)
	d, fx = m.Step(d, states.Input{Kind: states.InResult, Flight: fx.Flight, Issued: now, Expiry: now.Add(time.Hour)}, now)
	show(fx)
	fmt.Println("usable:", d.Usable(now))
	// Output:
	// valid -> expired on expire (access token expired)
	// expired -> refreshing on refresh (access token expired)
	// refreshing -> backoff on fail (502 Bad Gateway)
	// retry in 1s
	// backoff -> refreshing on retry (retry due)
	// refreshing -> valid on succeed ()
	// usable: true
}
