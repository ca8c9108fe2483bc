package session

import (
	"fmt"
	"strings"

	"github.com/authfsm/authfsm/declare"
)

// Declared returns the options that run a session as d declares it (a
// session block read by package declare, the one a scenario and an agent
// profile hold): WithRefreshAhead, WithRequestTimeout, WithPolicy,
// WithLease, WithReuseGrace and WithSoloWhenStoreDown (the last three
// matter only to a session of a token family). The
// keys that need more than a value are the caller's, as `authfsm agent`
// does them: fallback a second oauth.Client for WithFallback (the same
// client with oauth.GrantClientCredentials), throttle one Throttle shared by the
// sessions on the token endpoint (throttle.New(d.Throttle, seed),
// WithThrottle), and wait_for_refresh how long a caller's context lets
// Token wait (ContextWithWait). A policy that does not build is an error.
func Declared(d declare.Session) ([]Option, error) {
	pol, err := d.Policy.Build()
	if err != nil {
		if strings.HasPrefix(err.Error(), "policy: ") {
			// "session: the declared policy: max does not apply…", naming
			// the policy once, its error still in the chain.
			return nil, fmt.Errorf("session: the declared %w", err)
		}
		return nil, fmt.Errorf("session: the declared policy: %w", err)
	}
	return []Option{WithRefreshAhead(d.RefreshAhead), WithRequestTimeout(d.RequestTimeout), WithPolicy(pol),
		WithLease(d.Lease), WithReuseGrace(d.ReuseGrace), WithSoloWhenStoreDown(d.SoloWhenStoreDown)}, nil
}
