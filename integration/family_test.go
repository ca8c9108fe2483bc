package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	rediscoord "github.com/authfsm/authfsm/coordinator/rediscoord"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/states"
)

// The shared-family tests run one token family in several OS processes
// (procclient), each with one session, against fosite with rotation and
// reuse detection: coordinated through a real redis-server, through a lock
// file, and not at all.

const (
	familyProcs    = 4
	familyLifespan = 3 * time.Second // fosite's access tokens: expires_in 2 or 3
	familyRun      = 7 * time.Second // about five refresh cycles
	familyKey      = "authfsm:family:{integration}"
)

// Coordination kinds, as procclient's -coord takes them.
const (
	coordRedis = "redis"
	coordFile  = "file"
	coordNone  = "none"
	// coordFileStore: each process has a plain session.FileStore on one
	// path, as the runs of a CLI on one workstation do.
	coordFileStore = "filestore"
)

// family is one token family: fosite, the shared store (a redis-server, a
// family file, or for uncoordinated processes a file holding the initial
// pair), and the processes.
type family struct {
	kind    string
	srv     *tokenserver.Server
	redis   *redisServer
	file    string
	initial session.Token
	procs   []*proc
	started time.Time
}

// newFamily starts fosite with sc, logs in, and seeds the family's store
// with the first pair.
func newFamily(t *testing.T, kind string, sc tokenserver.Config) *family {
	t.Helper()
	procClient(t) // build before the first pair's lifetime starts
	if sc.AccessTokenLifespan == 0 {
		sc.AccessTokenLifespan = familyLifespan
	}
	srv, err := tokenserver.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	f := &family{kind: kind, srv: srv}
	if kind == coordRedis {
		f.redis = startRedis(t)
	}
	tr, err := srv.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f.initial = session.Token{Access: session.Secret(tr.AccessToken), Refresh: session.Secret(tr.RefreshToken),
		Type: tr.TokenType, Issued: now, Expiry: now.Add(time.Duration(tr.ExpiresIn) * time.Second)}
	if !strings.HasPrefix(tr.AccessToken, "ory_at_") || !strings.HasPrefix(tr.RefreshToken, "ory_rt_") {
		t.Fatal("fosite's tokens lack the ory_at_ and ory_rt_ prefixes that the check for secrets in the output looks for")
	}
	ctx := t.Context()
	switch kind {
	case coordRedis, coordFile:
		if kind == coordFile {
			f.file = filepath.Join(t.TempDir(), "family.json")
		}
		err = f.coordinator(t, func(c session.Coordinator) error {
			_, err := c.Publish(ctx, "seed", 0, f.initial)
			return err
		})
	case coordNone:
		f.file = filepath.Join(t.TempDir(), "initial.json")
		err = (&session.FileStore{Path: f.file}).Save(ctx, f.initial)
	case coordFileStore:
		f.file = filepath.Join(t.TempDir(), "token.json")
		err = (&session.FileStore{Path: f.file}).Save(ctx, f.initial) // a login: generation 1
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// coordinator calls fn with a coordinator of the family, as the processes
// have.
func (f *family) coordinator(t *testing.T, fn func(session.Coordinator) error) error {
	t.Helper()
	switch f.kind {
	case coordRedis:
		rc := goredis.NewClient(&goredis.Options{Addr: f.redis.addr(), MaxRetries: -1})
		defer rc.Close()
		return fn(rediscoord.New(rc, familyKey))
	case coordFile, coordFileStore:
		return fn(&session.FileCoordinator{Path: f.file})
	}
	t.Fatalf("family %s has no coordinator", f.kind)
	return nil
}

// generation reads the family's generation (0 when unreadable).
func (f *family) generation(t *testing.T) uint64 {
	t.Helper()
	var gen uint64
	f.coordinator(t, func(c session.Coordinator) error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		fam, err := c.Read(ctx)
		gen = fam.Generation
		return err
	})
	return gen
}

// start starts n processes with the family's settings and extra flags.
func (f *family) start(t *testing.T, n int, extra ...string) {
	t.Helper()
	f.started = time.Now()
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		args := []string{"-id", id, "-coord", f.kind, "-token-url", f.srv.URL() + tokenserver.TokenPath,
			"-client-id", f.srv.ClientID()}
		switch f.kind {
		case coordRedis:
			args = append(args, "-redis-addr", f.redis.addr(), "-redis-key", familyKey)
		case coordFile, coordFileStore:
			args = append(args, "-file", f.file)
		case coordNone:
			args = append(args, "-seed", f.file)
		}
		env := []string{"AUTHFSM_CLIENT_SECRET=" + f.srv.ClientSecret()}
		f.procs = append(f.procs, startProc(t, id, env, append(args, extra...)...))
	}
}

// wait waits until every process exited, at most d, and checks that none
// wrote a token.
func (f *family) wait(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, p := range f.procs {
		p.exited(t, deadline)
	}
	for _, p := range f.procs {
		text := p.stdout.String() + p.stderr.String()
		assertNoSecret(t, p.id+"'s output", text, f.initial.Access.Reveal(), f.initial.Refresh.Reveal(), f.srv.ClientSecret())
		// fosite's HMAC tokens carry a prefix: no token of the family,
		// whichever generation, may appear.
		for _, prefix := range []string{"ory_at_", "ory_rt_"} {
			if strings.Contains(text, prefix) {
				t.Errorf("%s's output contains a token (%s…)", p.id, prefix)
			}
		}
	}
	if t.Failed() {
		f.logOutput(t)
	}
}

// logOutput logs every process's output and fosite's request log, as
// offsets from the start.
func (f *family) logOutput(t *testing.T) {
	t.Helper()
	var b strings.Builder
	ms := func(at time.Time) int64 { return at.Sub(f.started).Milliseconds() }
	for _, p := range f.procs {
		fmt.Fprintf(&b, "%s (exit %v):\n", p.id, p.err)
		for _, l := range p.output() {
			fmt.Fprintf(&b, "  %6dms %s %s%s%s%s%s %s%s\n", ms(l.At), l.Kind, l.Grant, l.From, arrow(l), l.To, l.State,
				l.Event, strings.TrimSpace(" "+l.Cause+" "+l.Err))
		}
		if s := p.stderr.String(); s != "" {
			fmt.Fprintf(&b, "  stderr: %s\n", s)
		}
	}
	b.WriteString("fosite:\n")
	for _, r := range f.srv.Requests() {
		fmt.Fprintf(&b, "  %6dms %s %d %s %s\n", ms(r.At), r.Grant, r.Status, r.Code, r.Fault)
	}
	t.Log(b.String())
}

func arrow(l procLine) string {
	if l.From != "" {
		return "→"
	}
	return ""
}

// refreshes returns fosite's refresh_token requests.
func (f *family) refreshes() []tokenserver.Request {
	var out []tokenserver.Request
	for _, r := range f.srv.Requests() {
		if r.Grant == "refresh_token" {
			out = append(out, r)
		}
	}
	return out
}

// familyRow is a row of the side-by-side table: what one run did.
type familyRow struct {
	Coordination  string
	Procs         int
	Run           time.Duration
	Refreshes     int // refresh_token requests reaching fosite
	Published     int // pairs published to the shared store
	Reuse         int // reuse detections by fosite
	Revocations   int // family revocations by fosite
	Calls, Failed int // Token calls, all processes
	Valid         int // processes holding a valid token at the end
	Revoked       int // processes revoked at the end
}

// row sums up the run.
func (f *family) row(t *testing.T, published int) familyRow {
	t.Helper()
	c := f.srv.Counts()
	r := familyRow{Coordination: f.kind, Procs: len(f.procs), Run: time.Since(f.started).Round(100 * time.Millisecond),
		Refreshes: c.Grants["refresh_token"], Published: published, Reuse: c.Reuse, Revocations: c.FamilyRevocations}
	for _, p := range f.procs {
		l, _ := p.final()
		r.Calls += l.Calls
		r.Failed += l.Failed
		if l.TokenValid {
			r.Valid++
		}
		if l.State == states.Revoked.String() {
			r.Revoked++
		}
	}
	return r
}

// checkCoordinated asserts what a coordinated run without faults must
// show: every process ends valid and never failed a call; every refresh
// reached fosite once per cycle, was answered, and published one
// generation; fosite never saw a reused token. It returns the run's row.
func (f *family) checkCoordinated(t *testing.T, minCycles int) familyRow {
	t.Helper()
	gen := f.generation(t)
	published := int(gen) - 1 // the seed was generation 1
	row := f.row(t, published)
	refreshes := f.refreshes()
	sent := 0
	for _, p := range f.procs {
		p.checkExit(t)
		l, _ := p.final()
		// The run may end while a refresh is under way (refreshing, or
		// waiting for the holder's pair): what matters is a valid token,
		// no failed call, and never revoked.
		if !l.endedWell() {
			t.Errorf("%s ended %s (token valid %v) with %d of %d calls failed: %s", p.id, l.State, l.TokenValid, l.Failed, l.Calls, l.Cause)
		}
		sent += p.count(func(l procLine) bool { return l.Kind == "send" })
	}
	if row.Reuse != 0 || row.Revocations != 0 {
		t.Errorf("fosite detected reuse %d times and revoked the family %d times", row.Reuse, row.Revocations)
	}
	if len(refreshes) < minCycles {
		t.Errorf("%d refreshes reached fosite in %v, want at least %d cycles", len(refreshes), row.Run, minCycles)
	}
	if len(refreshes) != published || sent != len(refreshes) || row.Refreshes != row.Published {
		t.Errorf("%d refreshes reached fosite, the processes sent %d, %d pairs were published: want one of each per cycle",
			len(refreshes), sent, published)
	}
	// One per cycle: a cycle's refresh point is half a lifetime (1–1.5 s)
	// after the last pair was issued, so two refreshes closer than that
	// would be two processes refreshing in one cycle.
	for i, r := range refreshes {
		if r.Status != 200 {
			t.Errorf("refresh %d answered %d %s", i+1, r.Status, r.Code)
		}
		if i > 0 {
			if gap := r.At.Sub(refreshes[i-1].At); gap < 500*time.Millisecond {
				t.Errorf("refreshes %d and %d reached fosite %v apart: two in one cycle", i, i+1, gap)
			}
		}
	}
	// Each pair published is adopted by the others.
	adopted := 0
	for _, p := range f.procs {
		adopted += p.count(func(l procLine) bool { return l.Kind == "audit" && l.Event == states.Adopt.String() })
	}
	if adopted == 0 {
		t.Error("no process adopted a pair another published")
	}
	t.Logf("%s: %d processes, %v: %d refreshes reached fosite, %d pairs published, %d adoptions, %d calls, %d failed",
		f.kind, row.Procs, row.Run, row.Refreshes, row.Published, adopted, row.Calls, row.Failed)
	return row
}

// The rows of the side-by-side table, filled by the tests that run them.
var familyRows = struct {
	sync.Mutex
	m map[string]familyRow
}{m: map[string]familyRow{}}

func keepRow(r familyRow) {
	familyRows.Lock()
	familyRows.m[r.Coordination] = r
	familyRows.Unlock()
}

// runCoordinated is TestSharedFamilyRedis and TestSharedFamilyFileLock.
func runCoordinated(t *testing.T, kind string) {
	f := newFamily(t, kind, tokenserver.Config{})
	f.start(t, familyProcs, "-duration", familyRun.String())
	f.wait(t, familyRun+30*time.Second)
	keepRow(f.checkCoordinated(t, 3))
}

// TestSharedFamilyRedis: four OS processes share one rotating family with
// reuse detection through a real redis-server for about five refresh
// cycles: exactly one refresh per cycle reaches fosite, the family is never
// revoked, no call fails.
func TestSharedFamilyRedis(t *testing.T) {
	runCoordinated(t, coordRedis)
}

// TestSharedFamilyFileLock: the same through session.FileCoordinator (one
// host, flock).
func TestSharedFamilyFileLock(t *testing.T) {
	runCoordinated(t, coordFile)
}

// TestSharedFamilyRedisRestart: redis-server restarts mid-run on the same
// port, empty (no persistence): the processes keep serving their valid
// tokens through the restart, and the family survives it.
func TestSharedFamilyRedisRestart(t *testing.T) {
	const run = 14 * time.Second
	f := newFamily(t, coordRedis, tokenserver.Config{})
	f.start(t, familyProcs, "-duration", run.String())
	// Restart mid-run, right after the sixth refresh was published: the
	// lease is free and the next refresh point is a second away.
	waitFor(t, "six refreshes to be published", 10*time.Second, func() bool { return f.generation(t) >= 7 })
	restartAt := time.Now()
	down := f.redis.restart(t)
	f.wait(t, run+30*time.Second)
	after := 0
	for _, r := range f.refreshes() {
		if r.At.After(restartAt) {
			after++
		}
	}
	t.Logf("redis-server restarted %v after the start, unreachable for %v; %d refreshes after it",
		restartAt.Sub(f.started).Round(time.Millisecond), down.Round(time.Millisecond), after)
	if after < 2 {
		t.Errorf("%d refreshes after the restart, want at least 2 cycles", after)
	}
	for _, p := range f.procs {
		p.checkExit(t)
		l, _ := p.final()
		// The run may end while a refresh is under way (refreshing, or
		// waiting for the holder's pair): what matters is a valid token,
		// no failed call, and never revoked.
		if !l.endedWell() {
			t.Errorf("%s ended %s (token valid %v) with %d of %d calls failed: %s", p.id, l.State, l.TokenValid, l.Failed, l.Calls, l.Cause)
		}
	}
	if c := f.srv.Counts(); c.Reuse != 0 || c.FamilyRevocations != 0 {
		t.Errorf("the family was lost: fosite detected reuse %d times and revoked the family %d times", c.Reuse, c.FamilyRevocations)
	}
	if t.Failed() {
		f.logOutput(t)
	}
}

// TestSharedFamilyCrashedHolder: the lease holder is killed (SIGKILL) after
// fosite rotated its refresh token and while the answer is held back. The
// others take over when its lease lapses and find its in-flight mark:
// inside the server's reuse grace they present the token again; outside it
// they re-authenticate with the fallback grant (client_credentials); with
// neither they stop, revoked with states.CrashedHolderCause. Never does a
// replay make fosite revoke the family.
func TestSharedFamilyCrashedHolder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grace    time.Duration // the server's and the sessions'
		fallback bool
		run      time.Duration
	}{
		{"inside the grace", 30 * time.Second, false, 14 * time.Second},
		{"fallback", 0, true, 14 * time.Second},
		{"neither", 0, false, 40 * time.Second}, // the processes exit once revoked
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFamily(t, coordRedis, tokenserver.Config{ReuseGrace: tc.grace})
			// The first refresh is performed, and its answer held back
			// until the client goes away.
			f.srv.SetFault(tokenserver.Fault{Kind: tokenserver.Delay, Delay: time.Minute, Count: 1})
			args := []string{"-duration", tc.run.String(), "-request-timeout", "2s"}
			if tc.grace > 0 {
				args = append(args, "-reuse-grace", tc.grace.String())
			}
			if tc.fallback {
				args = append(args, "-fallback")
			}
			f.start(t, familyProcs, args...)

			// fosite has rotated the refresh token once the delayed
			// request is in its log with a status; the holder said it
			// sends before sending.
			var holder *proc
			waitFor(t, "the holder's refresh to be performed", 10*time.Second, func() bool {
				if !slices.ContainsFunc(f.srv.Requests(), func(r tokenserver.Request) bool {
					return r.Fault == tokenserver.Delay && r.Status == 200
				}) {
					return false
				}
				for _, p := range f.procs {
					if p.count(func(l procLine) bool { return l.Kind == "send" }) > 0 {
						holder = p
						return true
					}
				}
				return false
			})
			for _, p := range f.procs {
				if p != holder && p.count(func(l procLine) bool { return l.Kind == "send" }) > 0 {
					t.Fatalf("%s and %s both sent a refresh", holder.id, p.id)
				}
			}
			holder.kill(t)
			killedAt := time.Now()
			if holder.count(func(l procLine) bool { return l.Kind == "answer" }) > 0 {
				t.Fatalf("%s's request ended before the kill: its request timeout is too short for this machine", holder.id)
			}
			var others []*proc
			for _, p := range f.procs {
				if p != holder {
					others = append(others, p)
				}
			}
			f.wait(t, tc.run+30*time.Second)

			c := f.srv.Counts()
			if c.Reuse != 0 || c.FamilyRevocations != 0 {
				t.Errorf("a spent refresh token was replayed: fosite detected reuse %d times and revoked the family %d times",
					c.Reuse, c.FamilyRevocations)
			}
			recovered := "never"
			for _, p := range others {
				p.checkExit(t)
				l, _ := p.final()
				switch {
				case tc.grace > 0 || tc.fallback:
					// Calls fail while the crashed holder's lease lapses.
					if !l.serving() {
						t.Errorf("%s ended %s (token valid %v): %s", p.id, l.State, l.TokenValid, l.Cause)
					}
				default:
					if l.State != states.Revoked.String() || l.Cause != states.CrashedHolderCause {
						t.Errorf("%s ended %s with cause %q, want revoked with %q", p.id, l.State, l.Cause, states.CrashedHolderCause)
					}
				}
				for _, o := range p.output() {
					if o.Kind == "audit" && o.Event == states.Succeed.String() && recovered == "never" {
						recovered = o.At.Sub(killedAt).Round(time.Millisecond).String()
					}
				}
			}
			switch {
			case tc.grace > 0:
				if c.GracedReuse != 1 {
					t.Errorf("fosite accepted %d rotated refresh tokens inside the grace, want 1 (the taker-over's)", c.GracedReuse)
				}
			case tc.fallback:
				want := "fallback grant: " + states.CrashedHolderCause
				n := 0
				for _, p := range others {
					n += p.count(func(l procLine) bool { return l.Kind == "audit" && strings.Contains(l.Cause, want) })
				}
				if n == 0 || c.Grants["client_credentials"] == 0 {
					t.Errorf("%d audited successes say %q; fosite saw %d client_credentials grants", n, want, c.Grants["client_credentials"])
				}
			default:
				if got := c.Grants["refresh_token"]; got != 1 {
					t.Errorf("fosite saw %d refreshes, want only the crashed holder's", got)
				}
			}
			t.Logf("%s killed %v after the start; first success after the kill: %v; fosite: %d refreshes, %d client_credentials, %d graced; run %v",
				holder.id, killedAt.Sub(f.started).Round(time.Millisecond), recovered,
				c.Grants["refresh_token"], c.Grants["client_credentials"], c.GracedReuse, time.Since(f.started).Round(time.Millisecond))
			if t.Failed() {
				f.logOutput(t)
			}
		})
	}
}

// TestSharedFamilySideBySide: the same four processes without coordination,
// each on its own copy of the refresh token, lose the family at the first
// refresh: fosite's reuse detection fires and revokes it. With -update it
// writes the table of README.md, running the coordinated configurations
// too unless TestSharedFamilyRedis and TestSharedFamilyFileLock ran just
// before.
func TestSharedFamilySideBySide(t *testing.T) {
	f := newFamily(t, coordNone, tokenserver.Config{})
	f.start(t, familyProcs, "-duration", familyRun.String())
	f.wait(t, familyRun+30*time.Second)
	row := f.row(t, 0)
	for _, p := range f.procs {
		p.checkExit(t)
	}
	if row.Reuse == 0 || row.Revocations == 0 || row.Revoked == 0 {
		t.Errorf("uncoordinated processes kept the family (reuse detected %d times, %d family revocations, %d processes revoked): the comparison proves nothing",
			row.Reuse, row.Revocations, row.Revoked)
	}
	t.Logf("uncoordinated: %+v", row)
	keepRow(row)
	if !*update {
		return
	}
	familyRows.Lock()
	_, haveRedis := familyRows.m[coordRedis]
	_, haveFile := familyRows.m[coordFile]
	familyRows.Unlock()
	if !haveRedis {
		t.Run("redis", func(t *testing.T) { runCoordinated(t, coordRedis) })
	}
	if !haveFile {
		t.Run("file", func(t *testing.T) { runCoordinated(t, coordFile) })
	}
	if t.Failed() {
		return
	}
	familyRows.Lock()
	rows := []familyRow{familyRows.m[coordRedis], familyRows.m[coordFile], familyRows.m[coordNone]}
	familyRows.Unlock()
	writeSection(t, familyTableBegin, familyTableEnd, familyTable(rows))
}

const (
	familyTableBegin = "<!-- shared-family: generated by `go test -run TestSharedFamily -update`; do not edit -->\n"
	familyTableEnd   = "<!-- end shared-family -->\n"
)

func familyTable(rows []familyRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d OS processes of one client share one token family; fosite issues %v access tokens and "+
		"refresh tokens that rotate on every use, with reuse detection that revokes the whole family; "+
		"each process calls `Token` every 50ms for %v.\n\n", familyProcs, familyLifespan, familyRun)
	b.WriteString("| coordination | processes | run | refreshes reaching fosite | pairs published | reuse detected | family revoked | Token calls | failed calls | processes valid at the end | processes revoked |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	names := map[string]string{coordRedis: "Redis (`rediscoord`)", coordFile: "lock file (`session.FileCoordinator`)", coordNone: "none"}
	for _, r := range rows {
		pub := fmt.Sprint(r.Published)
		if r.Coordination == coordNone {
			pub = "–"
		}
		fmt.Fprintf(&b, "| %s | %d | %v | %d | %s | %d | %d | %d | %d | %d | %d |\n", names[r.Coordination], r.Procs, r.Run,
			r.Refreshes, pub, r.Reuse, r.Revocations, r.Calls, r.Failed, r.Valid, r.Revoked)
	}
	return b.String()
}

// writeSection replaces the section of README.md between begin and end.
func writeSection(t *testing.T, begin, end, text string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(readme), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the markers %q and %q", begin, end)
	}
	if err := os.WriteFile("README.md", []byte(before+begin+text+end+after), 0o644); err != nil {
		t.Fatal(err)
	}
}
