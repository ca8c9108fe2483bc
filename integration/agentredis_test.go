package integration

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
)

// TestAgentRedisFamily: two `authfsm agent` processes — on two hosts, as
// far as the family can tell — share one profile's rotating token family
// through a real redis-server (`store: {redis: {addr, key}}`), against
// fosite with reuse detection. The first seeds the family from its
// refresh token; the second, which has none, adopts the first's pair.
// Across about five refresh cycles of 4 s tokens, one refresh per cycle
// reaches fosite and the other agent adopts the pair it published: fosite
// never sees a refresh token twice (which would revoke the family), every
// call through either agent's proxy succeeds, and both end serving the
// same token.
func TestAgentRedisFamily(t *testing.T) {
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 4 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	r := startRedis(t)
	spec := agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: 1500 * time.Millisecond, requestTimeout: requestTimeout,
		store: fmt.Sprintf(`{redis: {addr: %q, key: "authfsm:it:{agents}"}}`, r.addr()),
	}
	first := startAgent(t, spec)
	spec.seed = ""
	second := startAgent(t, spec)
	before := e.srv.Counts()
	t1, err1 := first.apiToken(t.Context())
	t2, err2 := second.apiToken(t.Context())
	if err1 != nil || err2 != nil || t1.AccessToken != t2.AccessToken || before.Rotations != 1 {
		t.Fatalf("at the start: %v, %v, same token %t, %d refreshes; want the first agent's pair adopted by the second",
			err1, err2, t1.AccessToken == t2.AccessToken, before.Rotations)
	}

	const run = 12 * time.Second
	var (
		mu     sync.Mutex
		calls  int
		failed []string
		wg     sync.WaitGroup
	)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(run); time.Now().Before(end); {
		<-tick.C
		for _, a := range []*agentProc{first, second} {
			wg.Go(func() {
				status, err := get(t.Context(), http.DefaultClient, "http://"+a.proxyAddr+tokenserver.ResourcePath)
				mu.Lock()
				defer mu.Unlock()
				calls++
				if status != http.StatusOK {
					failed = append(failed, fmt.Sprintf("%s through %s: %d %v", time.Now().Format("15:04:05.000"), a.dir, status, err))
				}
			})
		}
	}
	wg.Wait()

	c := e.srv.Counts()
	refreshes := c.Rotations - before.Rotations
	t.Logf("%d calls through the two proxies, %d failed; %d refreshes in %v; fosite: reuse %d, family revocations %d",
		calls, len(failed), refreshes, run, c.Reuse, c.FamilyRevocations)
	if len(failed) != 0 {
		t.Errorf("failed calls:\n%v", failed)
	}
	if c.Reuse != 0 || c.FamilyRevocations != 0 {
		t.Errorf("fosite detected reuse %d times and revoked the family %d times: the agents did not share it", c.Reuse, c.FamilyRevocations)
	}
	// About 2 s between refreshes; two agents refreshing each on its own
	// would make twice as many (and reuse).
	if refreshes < 3 || refreshes > 7 {
		t.Errorf("%d refreshes in %v, want one per cycle (about 5)", refreshes, run)
	}
	// One may be adopting the pair the other published a moment ago.
	waitFor(t, "both agents to serve the family's token", 5*time.Second, func() bool {
		t1, err1 = first.apiToken(t.Context())
		t2, err2 = second.apiToken(t.Context())
		return err1 == nil && err2 == nil && t1.AccessToken == t2.AccessToken
	})
	for _, a := range []*agentProc{first, second} {
		if err := a.stop(t); err != nil {
			t.Errorf("authfsm agent after SIGTERM: %v", err)
		}
		assertNoSecret(t, "agent log", a.stderr.String(), login.RefreshToken, t1.AccessToken)
	}
}
