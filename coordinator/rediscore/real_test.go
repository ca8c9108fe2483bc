package rediscore

import (
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/session"
)

// TestRealRedis runs the Client against a redis-server of its own that
// requires a password: a wrong one is refused without being repeated; with
// the right one, in database 2, one process takes the lease and publishes
// a pair while another waits for it and adopts it, also after the server
// lost its scripts (SCRIPT FLUSH: EVAL again). Skipped without
// redis-server unless AUTHFSM_REQUIRE_REDIS=1. (coordinator/rediscoord runs
// the whole session.Coordinator contract on this Client too.)
func TestRealRedis(t *testing.T) {
	const password = "redis-pw-Zq9"
	srv := redistest.Start(t, "--requirepass", password)

	bad := newTestClient(t, Options{Addr: srv.Addr, Password: "not-" + password})
	if _, err := New(bad, "authfsm:test:{x}").Read(testContext(t)); err == nil ||
		!strings.Contains(err.Error(), "AUTH") || strings.Contains(err.Error(), password) {
		t.Errorf("Read with a wrong password: %v; want an AUTH error without the password", err)
	}

	opts := Options{Addr: srv.Addr, Password: password, DB: 2}
	const key = "authfsm:test:{family}"
	first := New(newTestClient(t, opts), key, WithJitterSeed(1))
	second := New(newTestClient(t, opts), key, WithJitterSeed(2), WithPollInterval(time.Hour))
	ctx := testContext(t)
	if _, ok, err := first.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
		t.Fatalf("first Acquire: %v, %v", ok, err)
	}
	if err := first.MarkInFlight(ctx, "p1", 0); err != nil {
		t.Fatal(err)
	}
	l, ok, err := second.Acquire(ctx, "p2", time.Minute)
	if err != nil || ok || l.Holder != "p1" {
		t.Fatalf("second Acquire: %+v, %v, %v; want p1's lease", l, ok, err)
	}
	adopted := make(chan session.Family, 1)
	go func() {
		f, err := second.Wait(ctx, 0)
		if err != nil {
			t.Error(err)
		}
		adopted <- f
	}()
	pair := session.Token{Access: "access-Zq9", Refresh: "refresh-Zq9", Type: "Bearer",
		Issued: time.Now().UTC().Truncate(time.Second), Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
	// Wait's poll is an hour: only the announcement can wake it, once it
	// subscribed; before, its first read sees the pair.
	if gen, err := first.Publish(ctx, "p1", 0, pair); err != nil || gen != 1 {
		t.Fatalf("Publish: %d, %v", gen, err)
	}
	f := <-adopted
	if f.Generation != 1 || f.Pair.Refresh != pair.Refresh || !f.Pair.Expiry.Equal(pair.Expiry) || f.Lease.Held(f.Now) {
		t.Errorf("Wait = %+v; want generation 1 with the published pair and a free lease", f)
	}

	raw := newTestClient(t, opts)
	if v, err := raw.Do(ctx, "SCRIPT", "FLUSH"); err != nil || v != "OK" {
		t.Fatalf("SCRIPT FLUSH: %v, %v", v, err)
	}
	if f, err := second.Read(ctx); err != nil || f.Generation != 1 {
		t.Errorf("Read after SCRIPT FLUSH: %+v, %v", f, err)
	}
	if v, err := raw.Do(ctx, "EXISTS", key+":state"); err != nil || v != int64(1) {
		t.Errorf("the family's hash in database 2: %v, %v", v, err)
	}
}
