package sim

import (
	"errors"
	"math"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/policy"
)

// ParseSession reads n, a YAML mapping, as a scenario's session block: the
// same keys (refresh_ahead, request_timeout, wait_for_refresh, policy,
// fallback, throttle), the same checks and the same defaults, which are the
// runtime's. Problems are *Error values naming file, the line and the key
// under path (such as "profiles.api.session"). A nil n gives the defaults.
//
// It is how `authfsm agent` reads a profile's session block, so that
// `authfsm sim --profile` simulates the settings the agent runs
// (Scenario.UseSession). Unlike a scenario file, a profile may set a
// throttle, which the simulator does not model yet.
func ParseSession(file string, n *yaml.Node, path string) (Session, error) {
	s := defaults().Session
	if n == nil {
		return s, nil
	}
	p := &parser{file: file, profile: true}
	p.session(n, path, &s)
	if p.err != nil {
		return Session{}, p.err
	}
	return s, nil
}

// UseSession replaces the scenario's session block with s, a deployed
// profile's (ParseSession), and checks what the rest of the scenario
// requires of it: a shared store's lease must outlast one refresh, and the
// simulator must model every setting (it does not model a throttle yet).
func (sc *Scenario) UseSession(s Session) error {
	if s.Throttle.Kind != "" && s.Throttle.Kind != policy.ThrottleNone {
		return errors.New("the simulator does not model session.throttle yet; simulate the profile without it")
	}
	if sc.Share.Kind == ShareStore && sc.Share.Lease <= s.RequestTimeout+2*sc.Share.Latency {
		return &Error{File: sc.File, Key: "share.lease", Kind: ErrInvalid,
			Msg: "the scenario's lease (" + sc.Share.Lease.String() + ") does not outlast one refresh with the profile's request_timeout (" + s.RequestTimeout.String() + ")"}
	}
	sc.Session = s
	return nil
}

// throttle reads a throttle: {kind: none|adaptive, k, window, probe}. Keys
// the file omits take policy.ThrottleSpec's defaults. Only a deployment's
// profile may set one: the simulator does not model it yet, and a scenario
// must not seem to test what it ignores.
func (p *parser) throttle(n *yaml.Node, path string, t *policy.ThrottleSpec) {
	var got policy.ThrottleSpec
	p.mapping(n, path, []field{
		{key: "kind", required: true, set: p.text(&got.Kind)},
		{key: "k", set: p.float(&got.K, 1, math.MaxInt32)},
		{key: "window", set: p.duration(&got.Window, 0, 24*time.Hour)},
		{key: "probe", set: p.duration(&got.Probe, 0, 24*time.Hour)},
	})
	if p.err != nil {
		return
	}
	if _, err := got.Build(); err != nil {
		var se *policy.ThrottleSpecError
		if errors.As(err, &se) {
			p.fail(keyNode(n, se.Key), join(path, se.Key), ErrInvalid, "%s", se.Reason)
		} else {
			p.fail(n, path, ErrInvalid, "%v", err)
		}
		return
	}
	if !p.profile && got.Kind != policy.ThrottleNone {
		p.fail(keyNode(n, "kind"), path+".kind", ErrInvalid, "the simulator does not model a throttle yet (an agent profile may set one)")
		return
	}
	*t = got
}
