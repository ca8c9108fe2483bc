package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// family runs n sessions of one token family against fe, each with the
// coordinator coord(i) (nil: uncoordinated, each on its own copy of the
// refresh token), calling Token every 100 ms for run. It returns the
// sessions, their audit logs and the number of failed calls.
func family(t *testing.T, fe *fakeEndpoint, n int, run time.Duration, coord func(i int) Coordinator, opts ...Option) ([]*Session, []*audit.Memory, int64) {
	t.Helper()
	ss := make([]*Session, n)
	mems := make([]*audit.Memory, n)
	start := time.Now()
	for i := range ss {
		mems[i] = &audit.Memory{}
		o := append([]Option{WithAudit(mems[i]), WithSeed(uint64(i)), WithID("p" + string(rune('0'+i)))}, opts...)
		if c := coord(i); c != nil {
			o = append(o, WithCoordinator(c))
		}
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(fe.TTL)}
		s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, o...)
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			for time.Since(start) < run {
				if _, err := s.Token(context.Background()); err != nil {
					failed.Add(1)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return ss, mems, failed.Load()
}

func closeAll(ss []*Session) {
	for _, s := range ss {
		s.Close()
	}
}

// TestSharedFamilyFileCoordinator: four processes of one client share a
// rotating refresh-token family with reuse detection through one
// FileCoordinator. Exactly one refresh per cycle reaches the server, the
// family is never revoked, no call fails. The same processes without
// coordination lose the family within seconds.
func TestSharedFamilyFileCoordinator(t *testing.T) {
	const procs, ttl, run = 4, 10 * time.Second, time.Minute
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(ttl)
		fe.ReuseDetection = true
		path := filepath.Join(t.TempDir(), "family.json")
		ss, mems, failed := family(t, fe, procs, run, func(int) Coordinator { return &FileCoordinator{Path: path} })
		defer closeAll(ss)
		requests, successes, _ := fe.Stats()
		// A refresh at half of each 10 s lifetime: about 12 cycles a minute.
		if fe.FamilyRevoked != 0 || failed != 0 || requests != successes || requests > int(run/(ttl/2))+1 || requests < 10 {
			t.Errorf("coordinated: %d token requests (%d answered), family revoked %d times, %d failed calls", requests, successes, fe.FamilyRevoked, failed)
		}
		adopted := 0
		for i, s := range ss {
			if st := s.Status(); st.State == states.Revoked || !st.TokenValid {
				t.Errorf("process %d: %+v\n%s", i, st, strings.Join(events(mems[i].Records()), "\n"))
			}
			for _, r := range mems[i].Records() {
				if r.Event == states.Adopt {
					adopted++
				}
			}
		}
		if adopted == 0 {
			t.Error("no process adopted a pair another published")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(ttl)
		fe.ReuseDetection = true
		ss, _, _ := family(t, fe, procs, 10*time.Second, func(int) Coordinator { return nil })
		defer closeAll(ss)
		if fe.FamilyRevoked == 0 {
			t.Error("uncoordinated processes kept a rotating family with reuse detection: the comparison proves nothing")
		}
	})
}

// ghost is a lease holder that marks a refresh in flight and vanishes: the
// server performs its refresh (rotating the refresh token), the answer is
// lost with the process.
func ghost(t *testing.T, c Coordinator, fe *fakeEndpoint) {
	t.Helper()
	ctx := context.Background()
	fam, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Acquire(ctx, "ghost", 5*time.Second); !ok || err != nil {
		t.Fatalf("ghost acquire: %v %v", ok, err)
	}
	if err := c.MarkInFlight(ctx, "ghost", fam.Generation); err != nil {
		t.Fatal(err)
	}
	fe.SetFault(fault{Kind: "lost_response"}, 1)
	testClient(t, fe, testEndpoint{}).Refresh(ctx, fam.Pair)
}

// TestSharedFamilyCrashedHolder: the lease holder vanishes after the server
// performed its refresh. Inside the reuse grace the next holder replays the
// old refresh token; outside it, it uses the fallback grant; without one it
// stops with the honest cause — never a replay that revokes the family.
func TestSharedFamilyCrashedHolder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		fallback  bool
		wantState states.State
		wantCause string
	}{
		{"inside the grace", time.Minute, false, states.Valid, ""},
		{"fallback", 0, true, states.Valid, "fallback grant"},
		{"neither", 0, false, states.Revoked, states.CrashedHolderCause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fe := newFakeEndpoint(time.Hour)
				fe.ReuseDetection, fe.ReuseGrace = true, tc.grace
				c := &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json")}
				start := time.Now()
				seed := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(10 * time.Second)}
				if _, err := c.Publish(context.Background(), "seed", 0, seed); err != nil {
					t.Fatal(err)
				}
				ghost(t, c, fe)
				opts := []Option{WithCoordinator(c), WithReuseGrace(tc.grace), WithRefreshAhead(0)}
				if tc.fallback {
					opts = append(opts, WithFallback(testClient(t, fe, testEndpoint{ClientID: "app", Grant: grantClientCredentials})))
				}
				mem := &audit.Memory{}
				s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), Token{}, append(opts, WithAudit(mem))...)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				time.Sleep(30 * time.Second) // expiry at 10 s, the ghost's lease lapses at 5 s
				s.Token(context.Background())
				time.Sleep(time.Second)
				st := s.Status()
				log := strings.Join(events(mem.Records()), "\n")
				if st.State != tc.wantState || !strings.Contains(log, tc.wantCause) {
					t.Errorf("state %v, cause %q; audit:\n%s", st.State, st.Cause, log)
				}
				if fe.FamilyRevoked != 0 {
					t.Errorf("the family was revoked by reuse detection: a spent token was replayed\n%s", log)
				}
			})
		})
	}
}

// downCoordinator fails every call, as an unreachable store does.
type downCoordinator struct{}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (downCoordinator) Read(context.Context) (Family, error) { return Family{}, errDown }
func (downCoordinator) Acquire(context.Context, string, time.Duration) (Lease, bool, error) {
	return Lease{}, false, errDown
}
func (downCoordinator) MarkInFlight(context.Context, string, uint64) error { return errDown }
func (downCoordinator) Publish(context.Context, string, uint64, Token) (uint64, error) {
	return 0, errDown
}
func (downCoordinator) Release(context.Context, string, bool) error { return errDown }
func (downCoordinator) Wait(context.Context, uint64) (Family, error) {
	return Family{}, errDown
}

// TestStoreDown: with the shared store unreachable a session serves its
// valid token, then fails transiently, paced by its policy, without
// refreshing alone; WithSoloWhenStoreDown(true) refreshes alone once the
// token is unusable.
func TestStoreDown(t *testing.T) {
	for _, solo := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			fe := newFakeEndpoint(time.Hour)
			start := time.Now()
			initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(10 * time.Second)}
			s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial,
				WithCoordinator(&downCoordinator{}), WithSoloWhenStoreDown(solo), WithRefreshAhead(0))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			time.Sleep(9 * time.Second)
			if _, err := s.Token(context.Background()); err != nil {
				t.Fatalf("solo %v: the valid token was not served: %v", solo, err)
			}
			time.Sleep(2 * time.Second)
			_, err = s.Token(context.Background())
			requests, _, _ := fe.Stats()
			if solo {
				if err != nil || requests != 1 {
					t.Errorf("solo: Token = %v after %d token requests", err, requests)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "shared store unreachable") || requests != 0 {
				t.Errorf("Token = %v after %d token requests; want the store's failure and no request", err, requests)
			}
			if se := s.Status().StoreError; !errors.Is(se, errDown) {
				t.Errorf("StoreError = %v", se)
			}
		})
	}
}

// TestSetTokenPublishesANewGeneration: a re-login in one process becomes
// the family's next generation, and the others adopt it.
func TestSetTokenPublishesANewGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		path := filepath.Join(t.TempDir(), "family.json")
		start := time.Now()
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(time.Hour)}
		a, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithCoordinator(&FileCoordinator{Path: path}))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := New(context.Background(), testClient(t, fe, testEndpoint{}), initial, WithCoordinator(&FileCoordinator{Path: path}), WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		relogin := Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(2 * time.Hour)}
		if err := a.SetToken(context.Background(), relogin); err != nil {
			t.Fatal(err)
		}
		if g := a.Status().Generation; g != 1 {
			t.Fatalf("generation after SetToken = %d, want 1", g)
		}
		time.Sleep(time.Hour + time.Minute) // b's token expires; it adopts instead of refreshing
		tok, err := b.Token(context.Background())
		if err != nil || tok.Access != "relogin-access" {
			t.Fatalf("b: Token = %v, %v", tok, err)
		}
		if n, _, _ := fe.Stats(); n != 0 {
			t.Errorf("%d token requests; b should have adopted the re-login", n)
		}
	})
}

// TestStoreLosesState: the shared store comes back empty mid-run (a Redis
// restarted without persistence), and later from a stale snapshot. The
// processes seed it again with the current pair or adopt a newer one, and
// nobody presents a rotated refresh token: the family survives, no call
// fails.
func TestStoreLosesState(t *testing.T) {
	const procs, ttl = 4, 10 * time.Second
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(ttl)
		fe.ReuseDetection = true
		path := filepath.Join(t.TempDir(), "family.json")
		var snapshot []byte
		go func() {
			time.Sleep(12 * time.Second)
			snapshot, _ = os.ReadFile(path) // an old generation
			time.Sleep(20 * time.Second)
			os.Remove(path) // restarted empty
			time.Sleep(20 * time.Second)
			os.WriteFile(path, snapshot, 0o600) // restored from the old snapshot
		}()
		ss, mems, failed := family(t, fe, procs, 90*time.Second, func(int) Coordinator { return &FileCoordinator{Path: path} })
		defer closeAll(ss)
		requests, successes, _ := fe.Stats()
		if fe.FamilyRevoked != 0 || failed != 0 || requests != successes {
			for i := range ss {
				t.Logf("process %d:\n%s", i, strings.Join(events(mems[i].Records()), "\n"))
			}
			t.Fatalf("%d token requests (%d answered), family revoked %d times, %d failed calls", requests, successes, fe.FamilyRevoked, failed)
		}
	})
}

// leaseRecorder records the lease lengths a session asks its coordinator for.
type leaseRecorder struct {
	Coordinator
	mu   sync.Mutex
	ttls []time.Duration
}

func (l *leaseRecorder) Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error) {
	l.mu.Lock()
	l.ttls = append(l.ttls, ttl)
	l.mu.Unlock()
	return l.Coordinator.Acquire(ctx, holder, ttl)
}

// TestLeaseLength: the lease lasts states.DefaultLease (30 s, the simulator's
// share.lease default too), WithLease's length, and never less than the
// request timeout plus LeaseMargin; a lease that is not positive is refused.
func TestLeaseLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want time.Duration
	}{
		{"default", nil, states.DefaultLease},
		{"set", []Option{WithLease(time.Minute)}, time.Minute},
		{"shorter than the request it covers", []Option{WithLease(time.Second), WithRequestTimeout(2 * time.Second)}, 2*time.Second + LeaseMargin},
		{"a long timeout", []Option{WithRequestTimeout(40 * time.Second)}, 40*time.Second + LeaseMargin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEndpoint(time.Hour)
			rec := &leaseRecorder{Coordinator: &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json")}}
			past := time.Now().Add(-2 * time.Hour)
			s, err := New(context.Background(), testClient(t, fe, testEndpoint{}),
				Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: past, Expiry: past.Add(time.Hour)},
				append([]Option{WithCoordinator(rec)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.ttls) == 0 || rec.ttls[0] != tc.want {
				t.Errorf("leases asked for %v, want %v first", rec.ttls, tc.want)
			}
		})
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := New(context.Background(), RefresherFunc(func(context.Context, Token) (Token, error) { return Token{}, nil }),
			Token{}, WithLease(d)); err == nil || !strings.Contains(err.Error(), "lease") {
			t.Errorf("WithLease(%v): %v", d, err)
		}
	}
}
