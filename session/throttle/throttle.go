// Package throttle is the client-side throttle that the sessions of one
// process share on one token endpoint (session.WithThrottle): during an
// outage it keeps most of their attempts from being sent. The decisions
// are policy.Throttle's, the simulator's too; this package gives them a
// lock and a random stream, and knows nothing of the session.
package throttle

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Throttle is a policy.Throttle shared by the sessions of one process that
// refresh at one token endpoint (session.WithThrottle): during an outage it keeps
// most of their attempts from being sent, lets one through at least every
// probe interval, and forgets the outage at the first answer. A throttled
// attempt is not sent; the session counts it as a transient failure, and
// its policy schedules the next one (a server's Retry-After still
// applies). A Throttle is safe for concurrent use.
type Throttle struct {
	mu  sync.Mutex
	t   *policy.Throttle
	rnd *rand.Rand
}

// New builds the throttle spec describes, drawing its random numbers from
// a generator seeded with seed.
func New(spec policy.ThrottleSpec, seed uint64) (*Throttle, error) {
	t, err := spec.Build()
	if err != nil {
		return nil, err
	}
	return &Throttle{t: t, rnd: policy.ThrottleRand(seed)}, nil
}

// Allow reports whether an attempt may be sent at now; a session asks
// before each attempt's first request.
func (t *Throttle) Allow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Allow(now, t.rnd.Uint64())
}

// Record reports the outcome of an attempt that was sent: accepted when
// the server answered (a token, or its refusal), not when it failed
// transiently (policy.Accepted).
func (t *Throttle) Record(now time.Time, accepted bool) {
	t.mu.Lock()
	t.t.Record(now, accepted)
	t.mu.Unlock()
}
