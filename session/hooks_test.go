package session

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
)

// TestHooks: the hooks see a session's life in order, outside its lock (a
// hook may call Status), with fingerprints only; every installed token is
// announced with its expiry.
func TestHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 1)
		var mu sync.Mutex
		var got []string
		var sp atomic.Pointer[Session]
		add := func(format string, args ...any) {
			if s := sp.Load(); s != nil { // Opened runs before New returns
				_ = s.Status() // would deadlock under the session lock
			}
			mu.Lock()
			got = append(got, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		h := hooks.Hooks{
			Opened:     func(i hooks.SessionInfo) { add("opened %s %v", i.Session, i.State) },
			Closed:     func(i hooks.SessionInfo) { add("closed %s %v", i.Session, i.State) },
			Transition: func(r audit.Record) { add("transition %v->%v %v", r.From, r.To, r.Event) },
			RequestStart: func(r hooks.RequestStart) {
				add("start attempt %d", r.Attempt)
			},
			RequestDone: func(r hooks.RequestDone) {
				add("done attempt %d status %d class %v took %v token? %v", r.Attempt, r.Status, r.Class, r.Duration, r.Token != "")
			},
			TokenInstalled: func(i hooks.TokenInstalled) {
				add("installed %v %s expires in %v token? %v", i.Event, i.Session, i.Expiry.Sub(i.At), i.Token != "")
			},
		}
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithHooks(h), WithID("api"),
			WithPolicy(policy.Constant{Wait: time.Second}), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		sp.Store(s)
		time.Sleep(3 * time.Second)
		if err := s.SetToken(context.Background(), Token{Access: "tok-access-set", Refresh: "tok-refresh-set", Expiry: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		want := []string{
			"opened api valid",
			"transition valid->expired expire",
			"transition expired->refreshing refresh",
			"start attempt 1",
			"done attempt 1 status 502 class transient took 0s token? false",
			"transition refreshing->backoff fail",
			"transition backoff->refreshing retry",
			"start attempt 2",
			"done attempt 2 status 200 class ok took 0s token? true",
			"transition refreshing->valid succeed",
			"installed succeed api expires in 1h0m0s token? true",
			"transition valid->valid set_token",
			"installed set_token api expires in 1m0s token? true",
			"closed api valid",
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("hooks (-want +got):\n%s", diff)
		}
		if strings.Contains(strings.Join(got, "\n"), "tok-") {
			t.Error("a hook saw a token")
		}
	})
}

// TestStoreErrorHook: a failed save reaches Hooks.StoreError.
func TestStoreErrorHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		var ops []string
		var mu sync.Mutex
		h := hooks.Hooks{StoreError: func(e hooks.StoreError) {
			mu.Lock()
			ops = append(ops, e.Op+": "+e.Err.Error())
			mu.Unlock()
		}}
		initial := Token{Access: "a", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Second)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithStore(&flakyStore{fails: 1}),
			WithHooks(h), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]string{"save: disk full"}, ops); diff != "" {
			t.Errorf("store hooks (-want +got):\n%s", diff)
		}
	})
}

type ctxKey struct{}

// TestBaseContext: refresh requests carry the base context's values, not
// its cancellation.
func TestBaseContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "trace-1"))
		cancel()
		seen := make(chan any, 1)
		r := RefresherFunc(func(ctx context.Context, _ Token) (Token, error) {
			seen <- ctx.Value(ctxKey{})
			if ctx.Err() != nil {
				return Token{}, ctx.Err()
			}
			return Token{Access: "a", Expiry: time.Now().Add(time.Hour)}, nil
		})
		s, err := New(context.Background(), r, Token{Refresh: "r"}, WithBaseContext(base))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Token(context.Background()); err != nil {
			t.Fatalf("Token = %v: the base context's cancellation reached the refresh", err)
		}
		if v := <-seen; v != "trace-1" {
			t.Errorf("the refresh saw %v, want the base context's value", v)
		}
	})
}
