package rediscoord

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/session"
)

// TestConnectionFailure: with the server gone, every method returns an
// error that says where it came from, keeps the network error in its
// chain, and holds no secret.
func TestConnectionFailure(t *testing.T) {
	m := miniredis.RunT(t)
	client := goredis.NewClient(&goredis.Options{Addr: m.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { client.Close() })
	m.Close()
	c := New(client, "authfsm:family:{gone}")
	ctx := testCtx(t)
	p := pair(1)
	calls := map[string]func() error{
		"Read":         func() error { _, err := c.Read(ctx); return err },
		"Acquire":      func() error { _, _, err := c.Acquire(ctx, "a", time.Minute); return err },
		"MarkInFlight": func() error { return c.MarkInFlight(ctx, "a", 0) },
		"Publish":      func() error { _, err := c.Publish(ctx, "a", 0, p); return err },
		"Release":      func() error { return c.Release(ctx, "a", true) },
		"Wait":         func() error { _, err := c.Wait(ctx, 0); return err },
	}
	for name, call := range calls {
		err := call()
		var opErr *net.OpError
		switch {
		case err == nil:
			t.Errorf("%s succeeded without a server", name)
		case !strings.HasPrefix(err.Error(), "rediscore: ") || !strings.Contains(err.Error(), "authfsm:family:{gone}"):
			t.Errorf("%s: error without context: %v", name, err)
		case !errors.As(err, &opErr):
			t.Errorf("%s: %v does not wrap the network error", name, err)
		case strings.Contains(err.Error(), p.Access.Reveal()) || strings.Contains(err.Error(), p.Refresh.Reveal()):
			t.Errorf("%s: error reveals a secret: %v", name, err)
		case errors.Is(err, session.ErrLeaseLost) || errors.Is(err, session.ErrGenerationMoved):
			t.Errorf("%s: a connection failure reported as a sentinel: %v", name, err)
		}
	}
}

// TestNewPanics: a nil client or an empty key is a programming error.
func TestNewPanics(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:0"})
	t.Cleanup(func() { client.Close() })
	for name, f := range map[string]func(){
		"nil client": func() { New(nil, "k") },
		"empty key":  func() { New(client, "") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with %s did not panic", name)
				}
			}()
			f()
		}()
	}
}
