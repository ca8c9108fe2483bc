package session

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authfsm/authfsm/policy"
)

// Throttle is a policy.Throttle shared by the sessions of one process that
// refresh at one token endpoint (WithThrottle): during an outage it keeps
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

// NewThrottle builds the throttle spec describes, drawing its random
// numbers from a generator seeded with seed.
func NewThrottle(spec policy.ThrottleSpec, seed uint64) (*Throttle, error) {
	t, err := spec.Build()
	if err != nil {
		return nil, err
	}
	return &Throttle{t: t, rnd: policy.ThrottleRand(seed)}, nil
}

// allow reports whether an attempt may be sent at now.
func (t *Throttle) allow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Allow(now, t.rnd.Uint64())
}

// record reports the outcome of an attempt that was sent.
func (t *Throttle) record(now time.Time, accepted bool) {
	t.mu.Lock()
	t.t.Record(now, accepted)
	t.mu.Unlock()
}

// WithThrottle makes the session ask t before each attempt, t being shared
// by every session of the process on the same token endpoint.
func WithThrottle(t *Throttle) Option { return func(c *config) { c.throttle = t } }

// throttledCause is the cause of an attempt the throttle kept back.
const throttledCause = policy.ThrottledCause
