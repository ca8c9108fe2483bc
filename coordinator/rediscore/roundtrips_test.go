package rediscore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/internal/refreshcost"
	"github.com/authfsm/authfsm/session"
)

// countingConn counts one process's round trips to Redis: each script it
// runs, by name, and each subscription.
type countingConn struct {
	Conn
	mu sync.Mutex
	n  refreshcost.Counts
}

// scriptNames names the coordinator's scripts.
var scriptNames = map[*Script]string{readScript: "read", acquireScript: "acquire", markScript: "mark",
	publishScript: "publish", releaseScript: "release"}

func (c *countingConn) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = refreshcost.Counts{}
	}
	c.n[op]++
}

func (c *countingConn) take() refreshcost.Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

func (c *countingConn) Eval(ctx context.Context, s *Script, keys []string, args ...string) (any, error) {
	name := scriptNames[s]
	if name == "" {
		name = "script " + s.SHA1[:8]
	}
	c.count(name)
	return c.Conn.Eval(ctx, s, keys, args...)
}

func (c *countingConn) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	c.count("subscribe")
	return c.Conn.Subscribe(ctx, channel)
}

// serverStats are a redis-server's counters: connections accepted and
// commands run by name (INFO stats, INFO commandstats).
func serverStats(t testing.TB, c *Client) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, section := range []string{"stats", "commandstats"} {
		v, err := c.Do(context.Background(), "INFO", section)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(fmt.Sprint(v)) {
			line = strings.TrimSpace(line)
			if n, ok := strings.CutPrefix(line, "total_connections_received:"); ok {
				out["connections"], _ = strconv.ParseInt(n, 10, 64)
			}
			if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
				name, fields, _ := strings.Cut(rest, ":")
				calls, _, _ := strings.Cut(strings.TrimPrefix(fields, "calls="), ",")
				out[name], _ = strconv.ParseInt(calls, 10, 64)
			}
		}
	}
	return out
}

// TestRedisRefreshCost pins the round trips one refresh costs the processes
// of a family on a real redis-server (refreshcost's scenario), through this
// package's Client: each process's scripts and subscriptions, and at each
// step what the server counted (connections, commands). Skipped without
// redis-server unless AUTHFSM_REQUIRE_REDIS=1.
func TestRedisRefreshCost(t *testing.T) {
	srv := redistest.Start(t)
	const key = "authfsm:test:{cost}"
	admin := newTestClient(t, Options{Addr: srv.Addr})
	conns := make([]*countingConn, 3)
	steps := map[string]map[string]int64{}
	last := serverStats(t, admin)
	cost := refreshcost.Measure(t, 2, func(i int, blocked func(bool)) session.Coordinator {
		client := newTestClient(t, Options{Addr: srv.Addr})
		if i < 0 {
			return New(client, key)
		}
		conns[i] = &countingConn{Conn: client}
		// Poll an hour: the family is read when announced, not by the clock.
		c := New(conns[i], key, WithPollInterval(time.Hour))
		c.waiting = blocked
		return c
	}, func(step string) {
		now := serverStats(t, admin)
		d := map[string]int64{}
		for k, v := range now {
			if n := v - last[k]; n != 0 && k != "info" {
				d[k] = n
			}
		}
		steps[step], last = d, serverStats(t, admin)
		if step == refreshcost.PhaseStart {
			for _, c := range conns {
				c.take()
			}
		}
	})
	toRedis := map[string]refreshcost.Counts{"holder": conns[0].take(), "waiter": conns[1].take(), "late": conns[2].take()}
	t.Logf("coordinator calls: holder: %v; waiter: %v; late: %v", cost.Holder, cost.Waiter, cost.Late)
	t.Logf("to Redis: holder: %v; waiter: %v; late: %v", toRedis["holder"], toRedis["waiter"], toRedis["late"])
	// Before: the holder ran five scripts (a read under the lease), the
	// waiter five and a subscription on a new connection per Wait (read,
	// acquire; subscribe, read; read once woken), the late process four
	// (read, acquire, read, release: two writes). Every session also
	// watches the family for a logout while it holds the pair (a wait in
	// the calls); an announcement carries no secret, so a watch woken by
	// another process's publish reads the new pair, once for all the
	// coordinator's waits.
	want := map[string]string{
		// the acquire reads the family too; its watch, woken by its own
		// publish, holds the pair it published: no read
		"holder": "acquire 1, mark 1, publish 1, read 1",
		// the read finds the lease held: it waits at once, without a read
		// (subscribed, nothing announced since), and reads the new pair
		// once the publish is announced
		"waiter": "read 2",
		// its read; its watch's read of the new pair (announced); the
		// acquire finds the generation moved: no lease
		"late": "acquire 1, read 2",
	}
	wantCalls := map[string]string{
		"holder": "acquire 1, mark 1, publish 1, read 1, wait 1", // its watch, again on the new generation
		"waiter": "read 1, wait 2",                               // the wait for the lease, then its watch
		"late":   "acquire 1, read 1, wait 1",
	}
	for role, got := range map[string]refreshcost.Counts{"holder": cost.Holder, "waiter": cost.Waiter, "late": cost.Late} {
		if got.String() != wantCalls[role] {
			t.Errorf("the %s's calls: %v; want %s", role, got, wantCalls[role])
		}
	}
	for role, got := range toRedis {
		if got.String() != want[role] {
			t.Errorf("the %s's round trips: %v; want %s", role, got, want[role])
		}
	}
	for _, step := range []string{refreshcost.PhaseLateRead, refreshcost.PhaseHolderSent, refreshcost.PhaseWaiterWaits,
		refreshcost.PhasePublished, refreshcost.PhaseLateAdopts} {
		t.Logf("%-14s %v", step, steps[step])
		// The coordinators' subscriptions stay from the refresh before.
		if n, m := steps[step]["connections"], steps[step]["subscribe"]; n != 0 || m != 0 {
			t.Errorf("%s: %d new connections, %d subscriptions; want none", step, n, m)
		}
	}
}
