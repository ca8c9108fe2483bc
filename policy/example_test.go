package policy_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Fibonacci waits 1s, 1s, 2s, 3s, 5s, ... and gives up after 8 attempts.
type Fibonacci struct{}

func (Fibonacci) Delay(a policy.Attempt) (time.Duration, bool) {
	x, y := 1, 1
	for i := 1; i < a.N; i++ {
		x, y = y, x+y
	}
	return time.Duration(x) * time.Second, a.N < 8
}

// A custom policy is any value with a Delay method. Pass it as
// states.Config.Policy (or the session's policy option).
func ExamplePolicy() {
	var p policy.Policy = Fibonacci{}
	for n := 1; ; n++ {
		d, again := p.Delay(policy.Attempt{N: n})
		if !again {
			fmt.Printf("attempt %d failed: give up\n", n)
			break
		}
		fmt.Printf("attempt %d failed: retry in %v\n", n, d)
	}
	// Output:
	// attempt 1 failed: retry in 1s
	// attempt 2 failed: retry in 1s
	// attempt 3 failed: retry in 2s
	// attempt 4 failed: retry in 3s
	// attempt 5 failed: retry in 5s
	// attempt 6 failed: retry in 8s
	// attempt 7 failed: retry in 13s
	// attempt 8 failed: give up
}

// Classify draws the line between what a proxy can say and what only the
// authorization server can say.
func ExampleClassify() {
	for _, o := range []policy.Outcome{
		{Status: 502},
		{Status: 404},
		{Status: 429, RetryAfter: "30"},
		{Status: 400, ErrorCode: "invalid_grant"},
		{Status: 401, ErrorCode: "invalid_client"},
		{Status: 400, ErrorCode: "invalid_request"},
		{Status: 400, ErrorCode: "invalid_request", Description: "Failed to refresh token. Please retry the request."},
		{Status: 403},
	} {
		v := policy.Classify(o)
		fmt.Printf("%-12s retry after %-3v %s\n", v.Class, v.RetryAfter, v.Cause)
	}
	// Output:
	// transient    retry after 0s  502 Bad Gateway
	// transient    retry after 0s  404 Not Found
	// rate_limited retry after 30s 429 Too Many Requests
	// permanent    retry after 0s  400 invalid_grant
	// permanent    retry after 0s  401 invalid_client: client misconfigured
	// suspect      retry after 0s  400 invalid_request
	// transient    retry after 0s  400 invalid_request: the server asks for a retry
	// transient    retry after 0s  403 Forbidden without an OAuth2 error: not an explicit refusal
}

// A Throttle is shared by the sessions of one process on one token endpoint,
// under one mutex. Here sessions ask ten times a second while the server is
// down for ten minutes; then it is back.
func ExampleThrottle() {
	th, err := policy.ThrottleSpec{Kind: "adaptive"}.Build() // k 2, window 2m, probe 30s
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(1, 2)) // the process's seeded source
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := policy.Outcome{Status: 503}
	up := policy.Outcome{Status: 200}

	now, asked, sent := start, 0, 0
	for ; now.Before(start.Add(10 * time.Minute)); now = now.Add(100 * time.Millisecond) {
		asked++
		if th.Allow(now, r.Uint64()) {
			sent++
			th.Record(now, policy.Accepted(down))
		} // else: not sent; a transient failure for the session, which waits its policy's delay
	}
	fmt.Printf("outage: %d of %d attempts sent\n", sent, asked)

	back := now
	for !th.Allow(now, r.Uint64()) {
		now = now.Add(100 * time.Millisecond)
	}
	th.Record(now, policy.Accepted(up)) // the first accept forgets the outage
	fmt.Printf("back: an attempt is sent %v later\n", now.Sub(back))

	sent = 0
	for range 100 {
		now = now.Add(100 * time.Millisecond)
		if th.Allow(now, r.Uint64()) {
			sent++
			th.Record(now, policy.Accepted(up))
		}
	}
	fmt.Printf("then: %d of 100 attempts sent\n", sent)
	// Output:
	// outage: 28 of 6000 attempts sent
	// back: an attempt is sent 21.2s later
	// then: 100 of 100 attempts sent
}
