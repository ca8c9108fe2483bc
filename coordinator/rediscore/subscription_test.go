package rediscore

import (
	"context"
	"errors"
	"sync/atomic"
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
	c.waiting = func(bool) {
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

// failingConn fails the next fail scripts it is asked to run.
type failingConn struct {
	Conn
	fail atomic.Int32
}

func (c *failingConn) Eval(ctx context.Context, s *Script, keys []string, args ...string) (any, error) {
	if c.fail.Add(-1) >= 0 {
		return nil, errors.New("a failure of the test's")
	}
	c.fail.Store(0)
	return c.Conn.Eval(ctx, s, keys, args...)
}

// TestAnnouncementWakes: an announcement says the family's generation and
// lease, not its pair. The Waits of one Coordinator woken by a newer
// generation share one read of it (the pair, its Extra members included);
// a Wait woken by its own coordinator's publish, or by a release of the
// lease on a generation whose pair the coordinator holds, reads nothing;
// an announcement it cannot read (an older version's "released") makes it
// read.
func TestAnnouncementWakes(t *testing.T) {
	srv := redistest.Start(t)
	const key = "authfsm:test:{ann}"
	const waits = 20
	ctx := testContext(t)
	failing := &failingConn{Conn: newTestClient(t, Options{Addr: srv.Addr})}
	counted := func(conn Conn) (*countingConn, *Coordinator, chan struct{}) {
		cc := &countingConn{Conn: conn}
		blocked := make(chan struct{}, waits)
		c := New(cc, key, WithPollInterval(time.Hour))
		c.waiting = func(bool) { blocked <- struct{}{} }
		return cc, c, blocked
	}
	cc, c, blocked := counted(failing)
	oc, other, otherBlocked := counted(newTestClient(t, Options{Addr: srv.Addr}))
	admin := newTestClient(t, Options{Addr: srv.Addr})
	issued := time.Now().UTC().Truncate(time.Second)
	p := session.Token{Access: "access-Zq9", Refresh: "refresh-Zq9", Type: "Bearer", Scope: "read",
		Issued: issued, Expiry: issued.Add(time.Hour)}.WithExtra(map[string]any{"id_token": "id-Zq9"})
	// wait runs n Waits (lease: Wait, else WaitGeneration) of w for gen,
	// makes change once they block, and returns what they returned.
	wait := func(w *Coordinator, ready chan struct{}, n int, gen uint64, lease bool, change func()) []session.Family {
		t.Helper()
		done := make(chan session.Family, n)
		for range n {
			go func() {
				wait := w.WaitGeneration
				if lease {
					wait = w.Wait
				}
				f, err := wait(ctx, gen)
				if err != nil {
					t.Error(err)
				}
				done <- f
			}()
		}
		for range n {
			<-ready
		}
		cc.take()
		oc.take()
		change()
		fs := make([]session.Family, n)
		for i := range fs {
			fs[i] = <-done
		}
		return fs
	}
	acquire := func() {
		t.Helper()
		if _, ok, err := other.Acquire(ctx, "other", time.Minute); err != nil || !ok {
			t.Fatalf("Acquire: %v, %v", ok, err)
		}
	}

	acquire()
	fs := wait(c, blocked, waits, 0, true, func() {
		if _, err := other.Publish(ctx, "other", 0, p); err != nil {
			t.Fatal(err)
		}
	})
	for _, f := range fs {
		if f.Generation != 1 || f.Pair.Access != p.Access || f.Pair.Refresh != p.Refresh || f.Pair.Scope != "read" ||
			!f.Pair.Expiry.Equal(p.Expiry) || f.Pair.Extra("id_token") != "id-Zq9" || f.Lease.Held(f.Now) {
			t.Fatalf("Wait = generation %d, lease %v; want generation 1 with the published pair and no lease", f.Generation, f.Lease)
		}
	}
	if n := cc.take(); n.String() != "read 1" {
		t.Errorf("%d Waits woken by another's publish made %v; want one read for all", waits, n)
	}
	// The read the announcement makes fails: the Waits read, once.
	acquire()
	fs = wait(c, blocked, waits, 1, true, func() {
		failing.fail.Store(1)
		if _, err := other.Publish(ctx, "other", 1, p); err != nil {
			t.Fatal(err)
		}
	})
	for _, f := range fs {
		if f.Generation != 2 || f.Pair.Refresh != p.Refresh {
			t.Fatalf("Wait = generation %d; want 2 with the published pair", f.Generation)
		}
	}
	if n := cc.take(); n.String() != "read 2" {
		t.Errorf("%d Waits woken by a publish whose read failed made %v; want that read and one more for all", waits, n)
	}

	// The publisher's own watch.
	if _, err := other.Read(ctx); err != nil {
		t.Fatal(err)
	}
	acquire()
	fs = wait(other, otherBlocked, 1, 2, false, func() {
		if _, err := other.Publish(ctx, "other", 2, p); err != nil {
			t.Fatal(err)
		}
	})
	if fs[0].Generation != 3 || fs[0].Pair.Refresh != p.Refresh {
		t.Errorf("WaitGeneration = generation %d; want 3 with the pair", fs[0].Generation)
	}
	if n := oc.take(); n.String() != "publish 1" {
		t.Errorf("woken by its own coordinator's publish, WaitGeneration made %v; want none but the publish", n)
	}

	// A release on a generation whose pair the coordinator holds.
	acquire()
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	fs = wait(c, blocked, 1, 3, true, func() {
		if err := other.Release(ctx, "other", false); err != nil {
			t.Fatal(err)
		}
	})
	if fs[0].Generation != 3 || fs[0].Lease.Held(fs[0].Now) || fs[0].Pair.Refresh != p.Refresh {
		t.Errorf("Wait = generation %d, lease %v; want generation 3 with its pair, no lease", fs[0].Generation, fs[0].Lease)
	}
	if n := cc.take(); len(n) != 0 {
		t.Errorf("woken by a release, Wait made round trips: %v", n)
	}

	acquire()
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	fs = wait(c, blocked, 1, 3, true, func() {
		// What an older version announces: a word, then the lease freed.
		if _, err := admin.Do(ctx, "DEL", key+":lease"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Do(ctx, "PUBLISH", key+":changes", "released"); err != nil {
			t.Fatal(err)
		}
	})
	if fs[0].Generation != 3 || fs[0].Lease.Held(fs[0].Now) {
		t.Errorf("Wait = generation %d, lease %v; want generation 3, no lease", fs[0].Generation, fs[0].Lease)
	}
	if n := cc.take(); n.String() != "read 1" {
		t.Errorf("woken by a bare announcement, Wait made %v; want one read", n)
	}
}
