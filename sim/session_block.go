package sim

import "go.yaml.in/yaml/v3"

// ParseSession reads n, a YAML mapping, as a scenario's session block: the
// same keys (refresh_ahead, request_timeout, wait_for_refresh, policy,
// fallback, throttle), the same checks and the same defaults, which are the
// runtime's. Problems are *Error values naming file, the line and the key
// under path (such as "profiles.api.session"). A nil n gives the defaults.
//
// It is how `authfsm agent` reads a profile's session block, so that
// `authfsm sim --profile` simulates the settings the agent runs
// (Scenario.UseSession), its throttle included.
func ParseSession(file string, n *yaml.Node, path string) (Session, error) {
	s := defaults().Session
	if n == nil {
		return s, nil
	}
	p := &parser{file: file}
	p.session(n, path, &s)
	if p.err != nil {
		return Session{}, p.err
	}
	return s, nil
}

// UseSession replaces the scenario's session block with s, a deployed
// profile's (ParseSession), and checks what the rest of the scenario
// requires of it: a shared store's lease must outlast one refresh.
func (sc *Scenario) UseSession(s Session) error {
	if sc.Share.Kind == ShareStore && sc.Share.Lease <= s.RequestTimeout+2*sc.Share.Latency {
		return &Error{File: sc.File, Key: "share.lease", Kind: ErrInvalid,
			Msg: "the scenario's lease (" + sc.Share.Lease.String() + ") does not outlast one refresh with the profile's request_timeout (" + s.RequestTimeout.String() + ")"}
	}
	sc.Session = s
	return nil
}
