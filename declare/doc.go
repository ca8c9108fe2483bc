// Package declare holds the declarative description of a session: the
// session block that a scenario file (package sim) and an agent profile
// (package agent) share — when to refresh ahead of expiry, how long one
// request may take and a call may wait for a token, the retry policy, the
// client_credentials fallback and the client-side throttle — read from
// YAML with the same keys, the same checks, the same defaults and one
// JSON Schema (Schema), and problems named by file, line and key.
//
// A session declared in a file runs anywhere: embedded in a program
// (session.Declared turns it into a session's options), in `authfsm agent`
// (a profile's session block), and in the simulator (`authfsm sim
// --profile`, Scenario.UseSession), which replays days of outages against
// exactly those settings.
//
//	d, err := declare.Load("session.yaml")
//	if err != nil {
//		log.Fatal(err) // declare: session.yaml:3: policy.kind: "fast" is not ...
//	}
//	opts, err := session.Declared(d)
//	...
//	s, err := session.New(ctx, client, session.Token{}, append(opts, session.WithStore(store))...)
//
// It sits below session, sim and agent, and imports neither: the
// description is data; what runs it is theirs.
package declare
