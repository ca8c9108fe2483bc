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

// TestFileStoreSharedByProcesses: two sessions, each with a FileStore of
// its own on one path (two runs of a CLI on one workstation), against a
// rotating server with reuse detection. They refresh in turns through the
// file's lock and each adopts the pair the other wrote: the family is never
// revoked, no call fails, and the file holds the newest pair.
func TestFileStoreSharedByProcesses(t *testing.T) {
	const procs, ttl, run = 2, 1500 * time.Millisecond, 5 * time.Second
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(ttl)
		fe.ReuseDetection = true
		fe.Latency = 50 * time.Millisecond
		path := filepath.Join(t.TempDir(), "token.json")
		start := time.Now()
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Issued: start, Expiry: start.Add(ttl)}
		if err := (&FileStore{Path: path}).Save(context.Background(), initial); err != nil {
			t.Fatal(err)
		}
		ss := make([]*Session, procs)
		mems := make([]*audit.Memory, procs)
		for i := range ss {
			mems[i] = &audit.Memory{}
			s, err := New(context.Background(), testClient(t, fe, testEndpoint{}), Token{},
				WithStore(&FileStore{Path: path}), WithAudit(mems[i]), WithSeed(uint64(i)), WithRequestTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ss[i] = s
		}
		defer closeAll(ss)
		var failed atomic.Int64
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Go(func() {
				for time.Since(start) < run {
					if _, err := s.Token(context.Background()); err != nil {
						failed.Add(1)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		requests, successes, _ := fe.Stats()
		for i, s := range ss {
			if st := s.Status(); st.State == states.Revoked || !st.TokenValid {
				t.Errorf("process %d: %+v\n%s", i, st, strings.Join(events(mems[i].Records()), "\n"))
			}
		}
		// One refresh per cycle, at half of each 1.5 s lifetime: six in 5 s.
		if fe.FamilyRevoked != 0 || failed.Load() != 0 || requests != successes || requests < 5 || requests > int(run/(ttl/2))+1 {
			t.Errorf("%d token requests (%d answered), family revoked %d times, %d failed calls", requests, successes, fe.FamilyRevoked, failed.Load())
		}
		saved, err := (&FileStore{Path: path}).Load(context.Background())
		if want := fe.Current(); err != nil || saved.Refresh.Reveal() != want {
			t.Errorf("the file holds %v (%v), want the newest refresh token", saved.Refresh, err)
		}
	})
}

// TestRefusalRereadsTheStore: another process writes a newer pair to the
// store (it refreshed, or the user logged in again) while this session's
// refresh is on its way with the old refresh token, which the server
// refuses. The session reads the store again and adopts the newer pair
// instead of revoking itself; a refusal with nothing newer in the store
// still revokes.
func TestRefusalRereadsTheStore(t *testing.T) {
	for _, kind := range []string{"file store", "memory store", "coordinator"} {
		for _, newer := range []bool{true, false} {
			name := kind + "/nothing newer"
			if newer {
				name = kind + "/newer pair"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { refusalRereads(t, kind, newer) })
			})
		}
	}
}

func refusalRereads(t *testing.T, kind string, newer bool) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	var opt Option
	var write func(Token) error // as the other process writes
	switch kind {
	case "file store":
		opt, write = WithStore(&FileStore{Path: path}), func(p Token) error { return (&FileStore{Path: path}).Save(ctx, p) }
	case "memory store":
		st := &MemoryStore{}
		opt, write = WithStore(st), func(p Token) error { return st.Save(ctx, p) }
	case "coordinator":
		c := &FileCoordinator{Path: path}
		opt = WithCoordinator(c)
		write = func(p Token) error {
			fam, err := c.Read(ctx)
			if err == nil {
				_, err = c.Publish(ctx, "other", fam.Generation, p)
			}
			return err
		}
	}
	fe := newFakeEndpoint(time.Hour)
	fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1)
	client := testClient(t, fe, testEndpoint{})
	other := Token{Access: "other-access", Refresh: "other-refresh", Expiry: time.Now().Add(2 * time.Hour)}
	var calls atomic.Int32
	r := RefresherFunc(func(ctx context.Context, cur Token) (Token, error) {
		if calls.Add(1) == 1 && newer {
			if err := write(other); err != nil {
				t.Error(err)
			}
		}
		return client.Refresh(ctx, cur)
	})
	mem := &audit.Memory{}
	initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Minute)}
	s, err := New(ctx, r, initial, opt, WithAudit(mem), WithRefreshAhead(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(time.Minute + time.Second)
	st := s.Status()
	log := strings.Join(events(mem.Records()), "\n")
	if !newer {
		if st.State != states.Revoked || !strings.Contains(st.Cause, "invalid_grant") {
			t.Errorf("refused with nothing newer in the store: %v %q\n%s", st.State, st.Cause, log)
		}
		return
	}
	tok, err := s.Token(ctx)
	if st.State != states.Valid || err != nil || tok.Access != "other-access" || !strings.Contains(log, "adopt") {
		t.Errorf("refused while the store holds a newer pair: %v %q, Token %v %v\n%s", st.State, st.Cause, tok, err, log)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d refresh attempts, want the refused one only", n)
	}
}

// TestFileStoreFileFormat: FileStore and FileCoordinator read each other's
// files. A file without the coordination state (as a FileStore of an
// older version wrote it) is generation 0 to a FileCoordinator; Save from
// outside a session (a login) writes the next generation, keeps the lease
// another process holds and drops an in-flight mark on the old pair; a
// broken file is replaced.
func TestFileStoreFileFormat(t *testing.T) {
	if !fileLocks {
		t.Skip("FileStore is not coordinated without file locks")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	old := `{"access_token":"at-0","refresh_token":"rt-0","token_type":"Bearer","expiry":"2030-01-01T00:00:00Z"}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &FileCoordinator{Path: path}
	fam, err := c.Read(ctx)
	if err != nil || fam.Generation != 0 || fam.Pair.Refresh != "rt-0" || fam.Pair.Type != "Bearer" {
		t.Fatalf("an older FileStore's file: %+v, %v", fam, err)
	}
	if _, ok, err := c.Acquire(ctx, "p", time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := c.MarkInFlight(ctx, "p", 0); err != nil {
		t.Fatal(err)
	}
	login := Token{Access: "at-login", Refresh: "rt-login", Expiry: time.Now().Add(time.Hour).Round(time.Second)}
	if err := (&FileStore{Path: path}).Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	fam, err = c.Read(ctx)
	if err != nil || fam.Generation != 1 || fam.Pair.Refresh != "rt-login" || fam.Lease.Holder != "p" || fam.InFlight.Holder != "" {
		t.Fatalf("after FileStore.Save: %+v, %v", fam, err)
	}
	if _, err := c.Publish(ctx, "p", 0, Token{Access: "at-1", Refresh: "rt-1"}); !errors.Is(err, ErrGenerationMoved) {
		t.Errorf("a publish from before the login: %v", err)
	}
	if tok, err := (&FileStore{Path: path}).Load(ctx); err != nil || tok.Refresh != "rt-login" || !tok.Expiry.Equal(login.Expiry) {
		t.Errorf("FileStore.Load: %v, %v", tok, err)
	}
	if err := os.WriteFile(path, []byte(`{"access_token":"x`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&FileStore{Path: path}).Save(ctx, login); err != nil {
		t.Errorf("Save over a broken file: %v", err)
	}
	if fam, err = c.Read(ctx); err != nil || fam.Generation != 1 || fam.Pair.Access != "at-login" {
		t.Errorf("after Save over a broken file: %+v, %v", fam, err)
	}
}

// TestFileStoreStartsFromTheGivenPair: New is given a fresh pair (a login)
// while the FileStore's file holds an older one of a later generation.
// The session refreshes with its own pair and replaces the file's, rather
// than adopt the stale pair because of its generation.
func TestFileStoreStartsFromTheGivenPair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		fe := newFakeEndpoint(time.Hour)
		fe.ReuseDetection = true
		store := &FileStore{Path: filepath.Join(t.TempDir(), "token.json")}
		stale := Token{Access: "stale-access", Refresh: "stale-refresh", Expiry: time.Now().Add(time.Minute)}
		for range 3 {
			if err := store.Save(ctx, stale); err != nil {
				t.Fatal(err)
			}
		}
		mem := &audit.Memory{}
		initial := Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(10 * time.Minute)}
		s, err := New(ctx, testClient(t, fe, testEndpoint{}), initial, WithStore(store), WithRefreshAhead(0), WithAudit(mem))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(10*time.Minute + time.Second)
		tok, err := s.Token(ctx)
		if err != nil || tok.Access != "tok-access-1" {
			t.Fatalf("Token = %v, %v\n%s", tok, err, strings.Join(events(mem.Records()), "\n"))
		}
		if saved, err := store.Load(ctx); err != nil || saved.Refresh != "tok-refresh-1" {
			t.Errorf("the file holds %v, %v", saved.Refresh, err)
		}
	})
}

// unreadableStore is a MemoryStore whose Load fails once broken is set.
type unreadableStore struct {
	MemoryStore
	broken atomic.Bool
}

func (u *unreadableStore) Load(ctx context.Context) (Token, error) {
	if u.broken.Load() {
		return Token{}, errors.New("store unreachable")
	}
	return u.MemoryStore.Load(ctx)
}

// TestRefusalWithStoreUnreadable: the server refuses the refresh token and
// the store cannot be read to look for a newer pair. The refusal is not
// taken as final: the attempt fails transiently, paced by the policy, the
// store's failure shows in Status, and the session recovers when the next
// attempt is answered.
func TestRefusalWithStoreUnreadable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1)
		store := &unreadableStore{}
		s, mem := newTestSession(t, fe, WithStore(store))
		defer s.Close()
		store.broken.Store(true)
		time.Sleep(time.Hour + 100*time.Millisecond)
		st := s.Status()
		if st.State != states.Backoff || !strings.Contains(st.Cause, states.RereadFailedNote) || st.StoreError == nil {
			t.Fatalf("after the refusal: %v %q, store error %v\n%s", st.State, st.Cause, st.StoreError, strings.Join(events(mem.Records()), "\n"))
		}
		store.broken.Store(false)
		time.Sleep(2 * time.Second)
		if tok, err := s.Token(context.Background()); err != nil || tok.Access != "tok-access-1" {
			t.Errorf("after the retry: %v, %v\n%s", tok, err, strings.Join(events(mem.Records()), "\n"))
		}
	})
}

// TestSetTokenSaveError: SetToken's failure to save names the pair it
// could not save, and wraps the store's error.
func TestSetTokenSaveError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flakyStore{fails: 1}
		s, _ := newTestSession(t, newFakeEndpoint(time.Hour), WithStore(store))
		defer s.Close()
		err := s.SetToken(context.Background(), Token{Access: "relogin-access", Refresh: "relogin-refresh", Expiry: time.Now().Add(time.Hour)})
		var se *SaveError
		if !errors.As(err, &se) || se.Token != audit.Fingerprint("relogin-access") || err == nil ||
			!strings.Contains(err.Error(), "disk full") || strings.Contains(err.Error(), "relogin-refresh") {
			t.Errorf("SetToken = %v", err)
		}
	})
}
