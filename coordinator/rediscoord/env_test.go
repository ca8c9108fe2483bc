package rediscoord

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/coordinator/rediscore"
)

// An env is a Redis server for one test: miniredis, or a real redis-server
// named by AUTHFSM_REDIS_ADDR, and the Conn the coordinators under test
// use: a go-redis client (this package's adapter) or rediscore's own
// client. The contract tests run on all four.
type env struct {
	// client writes behind the coordinator's back.
	client goredis.UniversalClient
	conn   rediscore.Conn
	key    string
	// shift lets d pass for the lease at key lease: on miniredis it moves
	// the server's clock and every TTL; on a real server it shortens the
	// lease's TTL by d (deleting it when d is all it had left).
	shift func(t *testing.T, lease string, d time.Duration)
	// slack is how far the server's times may stray from what a test
	// computes: zero on miniredis, whose clock stands still.
	slack time.Duration
}

// coord returns a Coordinator of the env's family.
func (e env) coord(opts ...Option) *Coordinator {
	return rediscore.New(e.conn, e.key, append([]Option{WithJitterSeed(1)}, opts...)...)
}

// transports are the Conns the contract runs on, by name.
var transports = []struct {
	name string
	conn func(t *testing.T, client *goredis.Client) rediscore.Conn
}{
	{"go-redis", func(_ *testing.T, client *goredis.Client) rediscore.Conn { return Conn(client) }},
	{"rediscore", func(t *testing.T, client *goredis.Client) rediscore.Conn {
		c, err := rediscore.NewClient(rediscore.Options{Addr: client.Options().Addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}},
}

// advance lets d pass for the env's lease.
func (e env) advance(t *testing.T, d time.Duration) {
	t.Helper()
	e.shift(t, e.leaseKey(), d)
}

// stateKey and leaseKey are the family's keys, for tests that write to them
// behind the coordinator's back.
func (e env) stateKey() string { return e.key + ":state" }
func (e env) leaseKey() string { return e.key + ":lease" }

// newMiniEnv starts a miniredis whose clock stands at a fixed instant;
// conn makes the Conn under test.
func newMiniEnv(t *testing.T, conn func(*testing.T, *goredis.Client) rediscore.Conn) env {
	m := miniredis.RunT(t)
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	m.SetTime(now)
	client := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
	t.Cleanup(func() { client.Close() })
	return env{
		client: client,
		conn:   conn(t, client),
		key:    "authfsm:family:{test}",
		shift: func(_ *testing.T, _ string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
			m.SetTime(now)
			m.FastForward(d)
		},
	}
}

// realAddr returns the address of the real Redis to test against, or skips
// the test (fails it when AUTHFSM_REQUIRE_REDIS=1).
func realAddr(t *testing.T) string {
	addr := os.Getenv("AUTHFSM_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("AUTHFSM_REQUIRE_REDIS") == "1" {
			t.Fatal("AUTHFSM_REQUIRE_REDIS=1 but AUTHFSM_REDIS_ADDR is not set")
		}
		t.Skip("AUTHFSM_REDIS_ADDR not set: no real Redis to test against")
	}
	return addr
}

// newRealEnv uses the redis-server at addr, with a family key of the
// test's own, deleted afterwards; conn makes the Conn under test.
func newRealEnv(t *testing.T, addr string, conn func(*testing.T, *goredis.Client) rediscore.Conn) env {
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	ctx := context.Background()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	id := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	key := fmt.Sprintf("authfsm:test:{%s-%x}", id, rand.Uint64())
	t.Cleanup(func() { client.Del(context.Background(), key+":state", key+":lease") })
	return env{
		client: client,
		conn:   conn(t, client),
		key:    key,
		slack:  2 * time.Second,
		shift: func(t *testing.T, lease string, d time.Duration) {
			t.Helper()
			pttl, err := client.PTTL(ctx, lease).Result()
			if err != nil {
				t.Fatalf("PTTL: %v", err)
			}
			if pttl <= d {
				client.Del(ctx, lease)
				return
			}
			if err := client.PExpire(ctx, lease, pttl-d).Err(); err != nil {
				t.Fatalf("PEXPIRE: %v", err)
			}
		},
	}
}

// within reports whether got is want give or take slack.
func within(got, want, slack time.Duration) bool {
	return got >= want-slack && got <= want+slack
}
