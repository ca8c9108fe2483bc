package session

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/throttle"
)

// TestThrottleSharedBySessions: 50 sessions of one process through a
// 10-minute outage of their token endpoint. A shared throttle cuts their
// token requests at least tenfold, reports each throttled attempt to the
// hooks, and every session still recovers within a probe interval and a
// backoff of the outage's end.
func TestThrottleSharedBySessions(t *testing.T) {
	const n = 50
	outage := 10 * time.Minute
	run := func(throttled bool) (requests int, throttledHooks int64, worst time.Duration) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			fe := newFakeEndpoint(time.Hour)
			fe.OutageFrom, fe.OutageTo = start.Add(time.Second), start.Add(outage)
			var th *throttle.Throttle
			if throttled {
				var err error
				if th, err = throttle.New(policy.ThrottleSpec{Kind: policy.ThrottleAdaptive}, 1); err != nil {
					t.Fatal(err)
				}
			}
			var hooked atomic.Int64
			ss := make([]*Session, n)
			for i := range ss {
				initial := Token{Access: "a", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Second)}
				opts := []Option{WithSeed(uint64(i)), WithRefreshAhead(0), WithThrottle(th),
					WithHooks(hooks.Hooks{Throttled: func(hooks.Throttled) { hooked.Add(1) }})}
				s, err := New(context.Background(), RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
					return testClient(t, fe, testEndpoint{}).Refresh(ctx, Token{Refresh: Secret(fe.Current())})
				}), initial, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ss[i] = s
			}
			time.Sleep(outage)
			requests, _, _ = fe.Stats()
			// After the outage: when does each session hold a token again?
			for range 600 {
				time.Sleep(time.Second)
				all := true
				for _, s := range ss {
					if !s.Status().TokenValid {
						all = false
					}
				}
				if all {
					break
				}
			}
			worst = time.Since(start.Add(outage))
			throttledHooks = hooked.Load()
		})
		return
	}
	plainReq, _, plainWorst := run(false)
	thrReq, hooks, thrWorst := run(true)
	t.Logf("without throttle: %d token requests in the outage, all valid %v after it", plainReq, plainWorst)
	t.Logf("with throttle:    %d token requests in the outage, all valid %v after it, %d throttled attempts", thrReq, thrWorst, hooks)
	if thrReq*10 > plainReq || hooks == 0 {
		t.Errorf("the throttle cut %d requests to %d (want at most a tenth), %d hooks", plainReq, thrReq, hooks)
	}
	if thrWorst > plainWorst+policy.DefaultThrottleProbe+time.Minute {
		t.Errorf("recovery %v with the throttle, %v without: more than one probe interval and one backoff later", thrWorst, plainWorst)
	}
}
