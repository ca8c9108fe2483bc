package rediscoord

import (
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/coordtest"
)

// family is the env's family as the conformance suite takes it.
func (e env) family(t *testing.T) coordtest.Family {
	return coordtest.Family{
		Open:    func() session.Coordinator { return e.coord(WithPollInterval(10 * time.Millisecond)) },
		Advance: func(d time.Duration) { e.advance(t, d) },
		Slack:   e.slack,
	}
}

// TestConformanceMiniredis runs session/coordtest, the conformance suite
// every Coordinator passes, on miniredis, through go-redis and through
// rediscore's own client.
func TestConformanceMiniredis(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			coordtest.Run(t, func(t *testing.T) coordtest.Family { return newMiniEnv(t, tr.conn).family(t) })
		})
	}
}

// TestConformanceRealRedis runs it on the redis-server at
// AUTHFSM_REDIS_ADDR; it skips without one, unless AUTHFSM_REQUIRE_REDIS=1.
func TestConformanceRealRedis(t *testing.T) {
	addr := realAddr(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			coordtest.Run(t, func(t *testing.T) coordtest.Family { return newRealEnv(t, addr, tr.conn).family(t) })
		})
	}
}
