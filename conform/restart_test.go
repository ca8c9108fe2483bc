package conform

import (
	"testing"
	"time"

	"github.com/authfsm/authfsm/sim"
)

// TestRestartsConform: a process that a crash_holder fault crashed starts
// again as a new session, the same way in the simulator and in the
// runtime (docs/SCENARIOS.md, "What a restart is"): with its own store's
// pair without a shared store, with the pair it was given in a family,
// reading its family when it was given none, and again a second later
// when that read meets the store down. Each run restarts a process, and
// the two agree transition by transition.
func TestRestartsConform(t *testing.T) {
	crash := func(from, to string) string {
		return `{from: ` + from + `, to: ` + to + `, kind: crash_holder, restart: 5s}`
	}
	const tokenless = `token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 2m},
		fleet: {sessions: 3, families: 1, without_token: 2}, share: {kind: store}, workload: [{kind: requests, every: 1m}],`
	for _, tc := range []struct {
		name, scenario string
		// restarted is a session whose process restarts.
		restarted int
	}{
		{"own copy", `{name: own-copy, duration: 2h, token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 1m},
			server: {faults: [{from: 55m, to: 55m10s, kind: crash_holder, restart: 2m}]}, workload: [{kind: requests, every: 1m}]}`, 0},
		// Each restart sends at once and crashes again: the new session's
		// first request has its whole timeout, whatever the crashed one's.
		{"crashed again and again", `{name: again, duration: 1h2m, token: {ttl: 5m},
			session: {refresh_ahead: 0s, request_timeout: 11.2s, fallback: true, policy: {kind: constant, initial: 1.2s, jitter: none}},
			server: {latency: 187ms, faults: [{from: 27m11s, to: 32m11s, kind: crash_holder, restart: 5s}]},
			workload: [{kind: requests, every: 6m39s}]}`, 0},
		// The second cycle's holders crash in turn: session 2 at its refresh
		// point (1h49m22s), session 0 taking over at 1h49m52s, session 1
		// at 1h50m22s, which starts again at 1h50m27s.
		{"a process given no token reads its family", `{name: tokenless, duration: 3h, ` + tokenless + `
			server: {faults: [` + crash("1h49m", "1h52m") + `]}}`, 1},
		{"its read meets the store down", `{name: tokenless-down, duration: 3h, ` + tokenless + `
			server: {faults: [` + crash("1h49m", "1h52m") + `, {from: 1h50m23s, to: 1h50m30s, kind: store_down}]}}`, 1},
		// The new session's jitter is drawn from sim.RestartSeed: session 0
		// starts again at 1h49m57s, the store down.
		{"retrying with the store down", `{name: holder-down, duration: 3h, ` + tokenless + `
			server: {faults: [` + crash("1h49m", "1h52m") + `, {from: 1h49m53s, to: 1h53m, kind: store_down}]}}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := sim.Parse(tc.name, []byte(tc.scenario))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(sc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Diff != nil {
				t.Fatalf("the runtime and the simulator disagree:\n%s", res.Diff)
			}
			restarted := false
			for _, tr := range res.Runtime[tc.restarted] {
				restarted = restarted || tr.Restarts > 0
			}
			if !restarted {
				t.Errorf("session %d's process never restarted", tc.restarted)
			}
		})
	}
}

// TestStartRetriedWhileStoreDown: a process given no token starts while
// its family's store is down, so that its session cannot read the family:
// it starts sim.StartRetry later, again and again until the store is back,
// and its application's calls run from then, on both sides.
func TestStartRetriedWhileStoreDown(t *testing.T) {
	sc, err := sim.Parse("down", []byte(`{name: down, duration: 3h, token: {ttl: 1h, rotate: true},
		fleet: {sessions: 3, families: 1, without_token: 2}, share: {kind: store},
		server: {faults: [{from: 0s, to: 30s, kind: store_down}]}, workload: [{kind: requests, every: 1m}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Diff != nil {
		t.Fatalf("the runtime and the simulator disagree:\n%s", res.Diff)
	}
	// Each start reads the store one round trip (share.latency, 1 ms)
	// after it began, and the next begins a second after that read: the
	// 31st, begun at 30.030s, reads the family at 30.031s, and its
	// application's first call demands a token then.
	if first := res.Runtime[1]; len(first) == 0 || first[0].At != 30*time.Second+31*time.Millisecond {
		t.Errorf("session 1's first transition %v, want its first call's demand at 30.031s", first)
	}
}
