package ops

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/authfsm/authfsm/session"
)

// issuer is a token endpoint in memory, a session.Refresher: each refresh
// issues the next pair, living ttl on time.Now (virtual inside a
// testing/synctest bubble), unless down is set: then it answers as a
// proxy's 502 page would have the token endpoint client report it.
type issuer struct {
	ttl time.Duration

	mu   sync.Mutex
	n    int
	down bool
}

func (is *issuer) Refresh(_ context.Context, cur session.Token) (session.Token, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.n++
	now := time.Now()
	if is.down {
		return session.Token{}, &session.EndpointError{URL: "https://auth.example/token", Status: 502, Sent: true, At: now}
	}
	return session.Token{Access: session.Secret(fmt.Sprintf("tok-access-%d", is.n)), Refresh: session.Secret(fmt.Sprintf("tok-refresh-%d", is.n)),
		Issued: now, Expiry: now.Add(is.ttl)}, nil
}

// requests counts the refreshes asked for.
func (is *issuer) requests() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.n
}

// setDown makes the issuer fail (true) or answer again.
func (is *issuer) setDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}
