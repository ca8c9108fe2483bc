package rediscore

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/session"
)

// rawSubscriber is a bare connection to a redis-server subscribed to every
// channel (PSUBSCRIBE *), as any client allowed to subscribe could be: it
// keeps each message's payload.
type rawSubscriber struct {
	msgs chan string
}

func subscribeAll(t *testing.T, addr string) *rawSubscriber {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r, w := bufio.NewReader(nc), bufio.NewWriter(nc)
	if err := writeCommand(w, []string{"PSUBSCRIBE", "*"}); err != nil {
		t.Fatal(err)
	}
	if v, err := readReply(r); err != nil {
		t.Fatal(err)
	} else if a, ok := v.([]any); !ok || len(a) != 3 || a[0] != "psubscribe" {
		t.Fatalf("PSUBSCRIBE answered %v", v)
	}
	s := &rawSubscriber{msgs: make(chan string, 64)}
	go func() {
		defer close(s.msgs)
		for {
			v, err := readReply(r)
			if err != nil {
				return
			}
			if a, ok := v.([]any); ok && len(a) == 4 && a[0] == "pmessage" {
				if p, ok := a[3].(string); ok {
					s.msgs <- p
				}
			}
		}
	}()
	return s
}

// until returns the payloads received before end.
func (s *rawSubscriber) until(t *testing.T, end string) []string {
	t.Helper()
	var got []string
	for p := range s.msgs {
		if p == end {
			return got
		}
		got = append(got, p)
	}
	t.Fatal("the subscriber's connection ended")
	return nil
}

// TestAnnouncementHoldsNoSecret: what Publish and Release announce on the
// family's channel, which any client allowed to subscribe reads (and
// monitoring may log), holds no byte of the pair — neither token, nor the
// pair's Extra members — but the generation and the lease; a Wait woken
// by it still returns the published pair (it reads the family once).
func TestAnnouncementHoldsNoSecret(t *testing.T) {
	srv := redistest.Start(t)
	const key = "authfsm:test:{secret}"
	ctx := testContext(t)
	raw := subscribeAll(t, srv.Addr)
	admin := newTestClient(t, Options{Addr: srv.Addr})
	holder := New(newTestClient(t, Options{Addr: srv.Addr}), key)
	cc := &countingConn{Conn: newTestClient(t, Options{Addr: srv.Addr})}
	waiter := New(cc, key, WithPollInterval(time.Hour))
	blocked := make(chan struct{}, 1)
	waiter.waiting = func(bool) {
		select {
		case blocked <- struct{}{}:
		default:
		}
	}
	secrets := []string{"access-Zq9x", "refresh-Zq9x", "id-Zq9x"}
	pair := session.Token{Access: "access-Zq9x", Refresh: "refresh-Zq9x", Type: "Bearer",
		Issued: time.Now().UTC().Truncate(time.Second), Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}.
		WithExtra(map[string]any{"id_token": "id-Zq9x"})

	if _, ok, err := holder.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	done := make(chan session.Family, 1)
	go func() {
		f, err := waiter.Wait(ctx, 0)
		if err != nil {
			t.Error(err)
		}
		done <- f
	}()
	<-blocked
	cc.take()
	if _, err := holder.Publish(ctx, "p1", 0, pair); err != nil {
		t.Fatal(err)
	}
	f := <-done
	if f.Generation != 1 || f.Pair.Access != pair.Access || f.Pair.Refresh != pair.Refresh || f.Pair.Extra("id_token") != "id-Zq9x" {
		t.Errorf("Wait = generation %d, pair %v; want the published pair", f.Generation, f.Pair)
	}
	if n := cc.take(); n.String() != "read 1" {
		t.Errorf("woken by the publish, Wait made %v; want one read", n)
	}
	// A release, with the mark kept and without.
	for _, spent := range []bool{true, false} {
		if _, ok, err := holder.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
			t.Fatalf("Acquire: %v, %v", ok, err)
		}
		if err := holder.MarkInFlight(ctx, "p1", 1); err != nil {
			t.Fatal(err)
		}
		if err := holder.Release(ctx, "p1", spent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.Do(ctx, "PUBLISH", "end", "end"); err != nil {
		t.Fatal(err)
	}
	got := raw.until(t, "end")
	if len(got) != 3 {
		t.Fatalf("the channels carried %d messages, want 3 (a publish, two releases): %q", len(got), got)
	}
	for i, p := range got {
		for j, s := range secrets {
			if strings.Contains(p, s) {
				t.Errorf("announcement %d holds secret %d of the pair", i, j)
				p = strings.ReplaceAll(p, s, "[secret]")
			}
		}
		got[i] = p
		var v []any
		if err := json.Unmarshal([]byte(p), &v); err != nil || len(v) != 4 {
			t.Errorf("announcement %d is not [now, holder, pttl, fields]: %s", i, p)
		} else if !strings.Contains(p, `"`+fieldGeneration+`","1"`) {
			t.Errorf("announcement %d does not say the generation: %s", i, p)
		}
	}
	// The first release (spent) keeps the mark, and says so.
	if !strings.Contains(got[1], fieldFlHolder) || strings.Contains(got[2], fieldFlHolder) {
		t.Errorf("the releases announced %s and %s; want the mark kept, then cleared", got[1], got[2])
	}
}
