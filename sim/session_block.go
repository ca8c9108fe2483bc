package sim

import "github.com/authfsm/authfsm/declare"

// UseSession replaces the scenario's session block with s, a deployed
// profile's (declare.ParseNode, as `authfsm agent` reads it), so that
// `authfsm sim --profile` simulates the settings the agent runs, its
// throttle included, and checks what the rest of the scenario requires of
// it: a shared store's lease must outlast one refresh.
func (sc *Scenario) UseSession(s declare.Session) error {
	if sc.Share.Kind == ShareStore && sc.Share.Lease <= s.RequestTimeout+2*sc.Share.Latency {
		return &Error{File: sc.File, Key: "share.lease", Kind: ErrInvalid,
			Msg: "the scenario's lease (" + sc.Share.Lease.String() + ") does not outlast one refresh with the profile's request_timeout (" + s.RequestTimeout.String() + ")"}
	}
	sc.Session = s
	return nil
}
