package states

import (
	"strconv"

	"github.com/authfsm/authfsm/policy"
)

// The decisions about the authorization server's refusals: when a Suspect
// refusal (policy.Suspect: invalid_request) becomes final, and when a
// refusal calls for the fallback grant. The runtime (session) and the
// simulator (sim) both ask the machine, so they decide alike.

// Final reports whether v, the verdict on the attempt under way in d,
// refuses the grant for good: a Permanent verdict, or a Suspect one whose
// answer (its cause) repeats the Suspect refusals of the attempts just
// before it, policy.SuspectRepeats in a row with it. A final verdict fed
// as InResult revokes the session.
func (m *Machine) Final(d *Data, v policy.Verdict) bool {
	switch v.Class {
	case policy.Permanent:
		return true
	case policy.Suspect:
		return d.suspects(v) >= policy.SuspectRepeats
	}
	return false
}

// Fallback reports whether v, the verdict on the refresh token's request
// in the attempt under way in d, calls for the fallback grant within the
// same attempt: the session has one (Config.Fallback), and v is Final. A
// refusal of the client itself (v.Misconfigured: invalid_client,
// unauthorized_client) is about the client, not the grant: when the
// fallback authenticates as the same client (sameClient) it would be refused
// the same way, so the session stops at once with the misconfiguration.
func (m *Machine) Fallback(d *Data, v policy.Verdict, sameClient bool) bool {
	return m.fallback && m.Final(d, v) && !(v.Misconfigured && sameClient)
}

// suspects is how many Suspect refusals with v's cause the attempts of d
// have met in a row, v's included.
func (d *Data) suspects(v policy.Verdict) int {
	if d.Suspects > 0 && d.Cause == v.Cause {
		return int(d.Suspects) + 1
	}
	return 1
}

// confirm counts a Suspect verdict *v into d, and turns it into a Permanent
// one when it is final, with a cause that says why.
func (d *Data) confirm(v *policy.Verdict) {
	if v.Class != policy.Suspect {
		return
	}
	n := d.suspects(*v)
	d.Suspects = uint8(min(n, policy.SuspectRepeats))
	if n >= policy.SuspectRepeats {
		v.Class = policy.Permanent
		v.Cause += ": the same refusal " + strconv.Itoa(n) + " times in a row"
	}
}
