package integration

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

var update = flag.Bool("update", false, "rewrite the side-by-side table in README.md")

// The outage schedule, relative to the login that starts a run.
const (
	cadence         = 100 * time.Millisecond // one resource call per tick
	stopAfter       = time.Second            // backend stopped, token still valid
	downAfterExpiry = 2 * time.Second        // backend restarted this long after expiry
	runAfterRestart = 2500 * time.Millisecond
	refreshAhead    = 500 * time.Millisecond // both clients treat the token as due this early
	requestTimeout  = 500 * time.Millisecond // authfsm's per-attempt deadline
)

// outage is one real-time run: the instants that matter and what happened.
type outage struct {
	issued, expiry, stop, restart, end time.Time
	calls                              []call
	tokens                             *tokenCounter
}

type call struct {
	at  time.Time
	ok  bool
	err string
}

// runOutage logs in, hands the token to a client built by mk, and then
// calls the resource through nginx every 100 ms while the backend is
// stopped across the token's expiry and restarted a few seconds later.
func runOutage(t *testing.T, mk func(e *env, initial session.Token, tr tokenserver.TokenResponse, tokens *tokenCounter) *http.Client) (*env, *outage) {
	t.Helper()
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 3 * time.Second}, nginx.Config{})
	initial, tr := e.login(t, 0)
	o := &outage{issued: initial.Issued, expiry: initial.Expiry, tokens: newTokenCounter()}
	hc := mk(e, initial, tr, o.tokens)

	tick := time.NewTicker(cadence)
	defer tick.Stop()
	stopT := time.NewTimer(time.Until(o.issued.Add(stopAfter)))
	restartT := time.NewTimer(time.Until(o.expiry.Add(downAfterExpiry)))
	endT := time.NewTimer(time.Until(o.expiry.Add(downAfterExpiry + runAfterRestart)))
	defer stopT.Stop()
	defer restartT.Stop()
	defer endT.Stop()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for o.end.IsZero() {
		select {
		case <-tick.C:
			at := time.Now()
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				status, err := get(ctx, hc, e.resourceURL())
				c := call{at: at, ok: err == nil && status == http.StatusOK}
				if err != nil {
					c.err = err.Error()
				} else if !c.ok {
					c.err = http.StatusText(status)
				}
				mu.Lock()
				o.calls = append(o.calls, c)
				mu.Unlock()
			})
		case <-stopT.C:
			o.stop = time.Now()
			if err := e.srv.Stop(); err != nil {
				t.Fatal(err)
			}
		case <-restartT.C:
			if err := e.srv.Start(); err != nil {
				t.Fatal(err)
			}
			o.restart = time.Now()
		case <-endT.C:
			o.end = time.Now()
		}
	}
	wg.Wait()
	slices.SortFunc(o.calls, func(a, b call) int { return a.at.Compare(b.at) })
	return e, o
}

// row is one line of the side-by-side table.
type row struct {
	Client              string
	Lifetime            time.Duration // expires_in of the first token, as the client saw it
	Calls, Failed       int
	FailedWhileValid    int // calls that failed although the access token had not expired
	TokenRequests       int
	ServerRefreshes     int // refresh requests that reached fosite
	OutageTokenRequests int // token requests sent while the backend was down
	Recovery            time.Duration
	FailedAfterRecovery int // failed calls started later than the recovery bound after the restart
	FailedDuringOutage  int // failed calls started while the backend was down
}

func (o *outage) row(client string, e *env, bound time.Duration) row {
	r := row{Client: client, Lifetime: o.expiry.Sub(o.issued).Round(time.Second), Calls: len(o.calls), Recovery: -1, ServerRefreshes: e.srv.Counts().Grants["refresh_token"]}
	for _, c := range o.calls {
		if c.ok {
			if r.Recovery < 0 && !c.at.Before(o.restart) {
				r.Recovery = c.at.Sub(o.restart)
			}
			continue
		}
		r.Failed++
		if c.at.Before(o.expiry) {
			r.FailedWhileValid++
		}
		if !c.at.Before(o.restart.Add(bound)) {
			r.FailedAfterRecovery++
		}
		if !c.at.Before(o.stop) && c.at.Before(o.restart) {
			r.FailedDuringOutage++
		}
	}
	r.TokenRequests = len(o.tokens.requests())
	r.OutageTokenRequests = o.tokens.between(o.stop, o.restart)
	return r
}

// attemptsWithin is the most attempts fastPolicy can start in a window:
// the first at its start, each next one its delay later.
func attemptsWithin(p policy.Policy, window time.Duration) int {
	n, elapsed, prev := 1, time.Duration(0), time.Duration(0)
	for {
		d, again := p.Delay(policy.Attempt{N: n, Elapsed: elapsed, Prev: prev})
		if !again || elapsed+d > window {
			return n
		}
		elapsed, prev = elapsed+d, d
		n++
	}
}

// TestNginx502AtRefresh reproduces the seed failure: nginx answers its own
// 502 page to token refreshes while the backend restarts across the access
// token's expiry. authfsm and golang.org/x/oauth2 run the same schedule side
// by side against their own backend and nginx.
func TestNginx502AtRefresh(t *testing.T) {
	// authfsm recovers within the policy's longest delay plus one request
	// timeout once the endpoint answers again (docs/DESIGN.md, invariant 5).
	bound := fastPolicy.Max + requestTimeout
	var (
		authfsmRow, oauth2Row row
		authfsmWindow         time.Duration
	)
	t.Run("clients", func(t *testing.T) {
		t.Run("authfsm", func(t *testing.T) {
			t.Parallel()
			var s *session.Session
			var recs func() []string
			e, o := runOutage(t, func(e *env, initial session.Token, _ tokenserver.TokenResponse, tokens *tokenCounter) *http.Client {
				s2, mem, _ := newSession(t, e.client(t, oauth.GrantRefreshToken, tokens), initial, "nginx-502",
					session.WithRefreshAhead(refreshAhead), session.WithRequestTimeout(requestTimeout))
				s, recs = s2, func() []string { return transitions(mem.Records()) }
				return &http.Client{Transport: &session.Transport{Session: s}}
			})
			authfsmRow, authfsmWindow = o.row("authfsm", e, bound), o.restart.Sub(o.stop)
			logOutage(t, o)
			if st := s.Status(); st.State != states.Valid || !st.TokenValid {
				t.Errorf("authfsm ended %v (token valid %t), want valid", st.State, st.TokenValid)
			}
			if got := e.srv.Counts().Reuse; got != 0 {
				t.Errorf("fosite saw %d reused refresh tokens", got)
			}
			checkOutageAudit(t, recs())
			recovered := false
			for _, c := range o.calls {
				recovered = recovered || (c.ok && !c.at.Before(o.restart))
				if recovered && !c.ok {
					t.Errorf("call at %v failed after the recovery: %s", c.at.Sub(o.issued), c.err)
				}
			}
		})
		t.Run("x-oauth2", func(t *testing.T) {
			t.Parallel()
			e, o := runOutage(t, func(e *env, initial session.Token, tr tokenserver.TokenResponse, tokens *tokenCounter) *http.Client {
				cfg := &oauth2.Config{
					ClientID: e.srv.ClientID(), ClientSecret: e.srv.ClientSecret(),
					Endpoint: oauth2.Endpoint{TokenURL: e.tokenURL(), AuthStyle: oauth2.AuthStyleInHeader},
				}
				ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tokens})
				tok := &oauth2.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer", Expiry: initial.Expiry}
				// ReuseTokenSource's default early expiry (10s) exceeds these
				// 3s tokens and would refresh on every call; the same margin
				// as authfsm's refresh-ahead is the fair comparison.
				src := oauth2.ReuseTokenSourceWithExpiry(tok, cfg.TokenSource(ctx, tok), refreshAhead)
				return &http.Client{Transport: &oauth2.Transport{Source: src}}
			})
			oauth2Row = o.row("x/oauth2", e, bound)
			logOutage(t, o)
		})
	})
	if t.Failed() {
		return
	}
	a, x := authfsmRow, oauth2Row
	table := sideBySide(a, x, bound)
	t.Logf("side by side:\n%s", table)

	// authfsm: still-valid token served, bounded requests, bounded recovery.
	if a.FailedWhileValid != 0 {
		t.Errorf("authfsm failed %d calls while its access token was still valid", a.FailedWhileValid)
	}
	if max := attemptsWithin(fastPolicy, authfsmWindow); a.OutageTokenRequests > max {
		t.Errorf("authfsm sent %d token requests during a %v outage; its policy allows at most %d", a.OutageTokenRequests, authfsmWindow, max)
	}
	if a.Recovery < 0 || a.Recovery > bound || a.FailedAfterRecovery != 0 {
		t.Errorf("authfsm recovered after %v with %d failures after that; bound %v", a.Recovery, a.FailedAfterRecovery, bound)
	}
	// x/oauth2: one token request per failing call, and the valid token
	// dropped as soon as a refresh fails.
	if x.OutageTokenRequests < x.FailedDuringOutage {
		t.Errorf("x/oauth2 sent %d token requests for %d failing calls: not one per call any more?", x.OutageTokenRequests, x.FailedDuringOutage)
	}
	if x.FailedWhileValid == 0 {
		t.Error("x/oauth2 failed no call while its token was valid: the baseline no longer shows the difference")
	}
	// The claimed difference.
	if 2*a.OutageTokenRequests >= x.OutageTokenRequests {
		t.Errorf("authfsm sent %d token requests during the outage, x/oauth2 %d: not far fewer", a.OutageTokenRequests, x.OutageTokenRequests)
	}
	if *update {
		writeTable(t, table)
	}
}

// checkOutageAudit checks the state sequence up to the recovery, and that
// whatever followed were ordinary refresh-ahead cycles.
func checkOutageAudit(t *testing.T, seq []string) {
	t.Helper()
	want := []string{
		"valid→refreshing refresh_ahead: refresh-ahead point reached",
		"refreshing→backoff fail: 502 Bad Gateway",
		"backoff→refreshing retry: retry due",
		"refreshing→valid succeed",
	}
	end := slices.Index(seq, "refreshing→valid succeed") + 1
	if end == 0 {
		end = len(seq)
	}
	if diff := cmp.Diff(want, seq[:end]); diff != "" {
		t.Errorf("audit up to the recovery (-want +got):\n%s", diff)
	}
	for _, line := range seq[end:] {
		if line != want[0] && line != want[3] {
			t.Errorf("after the recovery: %s", line)
		}
	}
}

// logOutage logs the failed calls and every token request, as offsets
// from the login.
func logOutage(t *testing.T, o *outage) {
	t.Helper()
	ms := func(at time.Time) int64 { return at.Sub(o.issued).Milliseconds() }
	var b strings.Builder
	fmt.Fprintf(&b, "expiry %dms, backend stopped %dms, restarted %dms\nfailed calls:\n", ms(o.expiry), ms(o.stop), ms(o.restart))
	for _, c := range o.calls {
		if !c.ok {
			first, _, _ := strings.Cut(c.err, "\n")
			fmt.Fprintf(&b, "  %6dms %s\n", ms(c.at), first)
		}
	}
	b.WriteString("token requests:\n")
	for _, r := range o.tokens.requests() {
		fmt.Fprintf(&b, "  %6dms answered %d\n", ms(r.At), r.Status)
	}
	t.Log(b.String())
}

func sideBySide(a, x row, bound time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "A call every %v through nginx; token backend stopped %v after login, restarted %v after the token expired; "+
		"authfsm policy: exponential %v×%g up to %v, refresh-ahead %v (x/oauth2: the same early expiry), recovery bound %v.\n\n",
		cadence, stopAfter, downAfterExpiry, fastPolicy.Initial, fastPolicy.Multiplier, fastPolicy.Max, refreshAhead, bound)
	b.WriteString("| client | token lifetime | calls | failed calls | failed while the token was still valid | token requests sent | sent during the outage | refreshes reaching fosite | first success after restart | failed calls after the recovery bound |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range []row{a, x} {
		rec := "never"
		if r.Recovery >= 0 {
			rec = r.Recovery.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %v | %d | %d | %d | %d | %d | %d | %s | %d |\n", r.Client, r.Lifetime, r.Calls, r.Failed, r.FailedWhileValid,
			r.TokenRequests, r.OutageTokenRequests, r.ServerRefreshes, rec, r.FailedAfterRecovery)
	}
	return b.String()
}

const (
	tableBegin = "<!-- side-by-side: generated by `go test -run TestNginx502AtRefresh -update`; do not edit -->\n"
	tableEnd   = "<!-- end side-by-side -->\n"
)

// writeTable replaces the generated section of README.md with table.
func writeTable(t *testing.T, table string) {
	t.Helper()
	writeSection(t, tableBegin, tableEnd, table)
}
