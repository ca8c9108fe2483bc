package session

import (
	"context"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// TestRefreshAheadOnMockClock drives the session's one timer with a
// clock.Mock: nothing happens until the refresh-ahead point, then one
// refresh, and the next timer is armed for the new token's refresh point.
func TestRefreshAheadOnMockClock(t *testing.T) {
	mock := clock.NewMock()
	mock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	start := mock.Now()
	recs := make(chan audit.Record, 16)
	fe := newFakeEndpoint(time.Hour)
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
	s, err := New(context.Background(), testClient(t, fe, Endpoint{}), initial, WithClock(mock), WithSeed(1),
		WithRefreshAhead(10*time.Minute), WithAudit(audit.SinkFunc(func(r audit.Record) error { recs <- r; return nil })))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Status().NextAt; !got.Equal(start.Add(50 * time.Minute)) {
		t.Fatalf("first wake-up at %v, want the refresh-ahead point %v", got, start.Add(50*time.Minute))
	}
	mock.Add(49 * time.Minute)
	if reqs, _, _ := fe.stats(); reqs != 0 {
		t.Fatalf("%d requests before the refresh-ahead point", reqs)
	}
	mock.Add(time.Minute) // fires the timer; the refresh runs in its own goroutine
	var got []string
	for r := range recs {
		got = append(got, r.Event.String()+" "+r.To.String()+" at +"+r.Time.Sub(start).String())
		if r.To == states.Valid {
			break
		}
	}
	want := []string{"refresh_ahead refreshing at +50m0s", "succeed valid at +50m0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	st := s.Status()
	if !st.Expiry.Equal(start.Add(110*time.Minute)) || !st.NextAt.Equal(start.Add(100*time.Minute)) {
		t.Errorf("after the refresh: expiry +%v, next wake-up +%v; want +1h50m and +1h40m", st.Expiry.Sub(start), st.NextAt.Sub(start))
	}
}
