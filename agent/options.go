package agent

import (
	"fmt"
	"strings"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/sim"
)

// SessionOptions maps a session block (a scenario's, or a profile's) to
// the runtime's options: refresh_ahead, request_timeout and policy. The
// other keys need more than an option: fallback a second client,
// throttle a throttle shared by the profiles on one token endpoint, and
// wait_for_refresh is how long the agent's requests wait for a token (see
// New).
func SessionOptions(s sim.Session) ([]session.Option, error) {
	pol, err := s.Policy.Build()
	if err != nil {
		if strings.HasPrefix(err.Error(), "policy: ") {
			// "agent: session.policy: max does not apply…", naming the
			// key once, the policy's error still in the chain.
			return nil, fmt.Errorf("agent: session.%w", err)
		}
		return nil, fmt.Errorf("agent: session.policy: %w", err)
	}
	return []session.Option{
		session.WithRefreshAhead(s.RefreshAhead),
		session.WithRequestTimeout(s.RequestTimeout),
		session.WithPolicy(pol),
	}, nil
}
