package rediscore

import (
	"context"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/session"
)

// closingConn is a countingConn whose subscriptions tell when they close.
type closingConn struct {
	*countingConn
	closed chan struct{}
}

func (c closingConn) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	s, err := c.countingConn.Subscribe(ctx, channel)
	if err != nil {
		return nil, err
	}
	return closingSub{s, c.closed}, nil
}

type closingSub struct {
	Subscription
	closed chan struct{}
}

func (s closingSub) Close() error {
	err := s.Subscription.Close()
	select {
	case s.closed <- struct{}{}:
	default:
	}
	return err
}

// TestSubscriptionShared: a Coordinator's Waits, one after the other or at
// once, share one subscription; a Wait right after a read made while
// subscribed reads nothing before it blocks; a subscription that breaks is
// taken up again by the Wait it woke, which misses no publish; the
// subscription ends once no Wait used it for the idle time, and at Close.
func TestSubscriptionShared(t *testing.T) {
	srv := redistest.Start(t)
	const key = "authfsm:test:{sub}"
	ctx := testContext(t)
	cc := closingConn{&countingConn{Conn: newTestClient(t, Options{Addr: srv.Addr})}, make(chan struct{}, 1)}
	blocked := make(chan struct{}, 1)
	c := New(cc, key, WithPollInterval(time.Hour), WithSubscriptionIdle(time.Hour))
	c.waiting = func() {
		select {
		case blocked <- struct{}{}:
		default:
		}
	}
	other := New(newTestClient(t, Options{Addr: srv.Addr}), key)
	admin := newTestClient(t, Options{Addr: srv.Addr})
	gen := uint64(0)
	publishWhile := func(waits int, before func()) {
		t.Helper()
		if _, ok, err := other.Acquire(ctx, "other", time.Minute); err != nil || !ok {
			t.Fatalf("Acquire: %v, %v", ok, err)
		}
		if before == nil {
			// What the Wait need not read again: the lease held.
			if _, err := c.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan session.Family, waits)
		for range waits {
			go func() {
				f, err := c.Wait(ctx, gen)
				if err != nil {
					t.Error(err)
				}
				done <- f
			}()
			<-blocked
		}
		if before != nil {
			before()
		}
		n, err := other.Publish(ctx, "other", gen, session.Token{Access: "a", Refresh: "r", Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for range waits {
			if f := <-done; f.Generation != n {
				t.Fatalf("Wait = generation %d, want %d", f.Generation, n)
			}
		}
		gen = n
	}
	publishWhile(1, nil) // it subscribes, then reads
	cc.take()
	publishWhile(1, nil)
	if n := cc.take(); n.String() != "read 2" {
		t.Errorf("a Read, then a Wait woken once: %v; want two reads", n)
	}
	publishWhile(2, nil)
	if n := cc.take()["subscribe"]; n != 0 {
		t.Errorf("two Waits at once subscribed %d times, want none: the first Wait's subscription stays", n)
	}

	publishWhile(1, func() {
		// The server drops the subscription: the Wait wakes, subscribes
		// again and reads, then blocks.
		if _, err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
			t.Fatal(err)
		}
		<-cc.closed
		<-blocked
	})
	if n := cc.take()["subscribe"]; n != 1 {
		t.Errorf("after the subscription broke: %d subscriptions, want one more", n)
	}

	idle := New(cc, key, WithPollInterval(time.Hour), WithSubscriptionIdle(time.Millisecond))
	if _, err := idle.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	<-cc.closed // the idle time passed
	c.Close()
	<-cc.closed
}
