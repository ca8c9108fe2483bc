package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/states"
)

// curlCall is one call curl made through the agent's proxy.
type curlCall struct {
	at     time.Time // curl started
	done   time.Time // curl returned
	status int       // 0: no answer
	body   string    // of a failed call
}

// curlGet calls url with curl (a fresh process, as a shell script would)
// and returns the status and body.
func curlGet(ctx context.Context, curl, url string, args ...string) (int, string) {
	args = append([]string{"-sS", "--noproxy", "*", "--max-time", "2", "-o", "-", "-w", "\n%{http_code}"}, args...)
	out, _ := exec.CommandContext(ctx, curl, append(args, url)...).Output()
	// The body, a newline, the status ("000" for no answer).
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return 0, ""
	}
	body, code := string(out[:i]), strings.TrimSpace(string(out[i+1:]))
	status, _ := strconv.Atoi(code)
	return status, body
}

// agentTimeout is TestAgentNonGoClient's request timeout: the default a
// deployed agent has (10 s), so that a token request which a loaded
// machine answers slowly is waited for rather than given up on. With
// 500 ms (requestTimeout) the first refreshes after the restart sometimes
// outlasted it on a loaded machine (the race detector, other tests) after
// fosite had rotated the refresh token: the test's own deadline lost the
// answer, the retry was refused (invalid_grant, no reuse grace) and the
// agent revoked — a real loss, but of the test's making
// (TestAgentLostAnswer plays it on purpose); with one core shared by two
// busy loops, fosite's answer took more than 5 s. nginx's 502s come at
// once, so the outage's schedule does not depend on it.
const agentTimeout = states.DefaultRequestTimeout

// runAfterRecovery is how long TestAgentNonGoClient keeps calling after its
// first successful call since the restart (at least until runAfterRestart
// after the restart).
const runAfterRecovery = 1500 * time.Millisecond

// TestAgentNonGoClient runs `authfsm agent` for a client that is not Go:
// curl calls the protected resource through the agent's proxy every 100 ms
// while nginx answers 502 to every token request across the access token's
// expiry, on TestNginx502AtRefresh's schedule (backend stopped 1 s after the
// agent's token was issued, before its refresh-ahead point, restarted 2 s
// after its expiry). The agent must serve the still-valid token while its
// refreshes fail, recover within the policy's bound once the backend is
// back and keep serving, and leave a hash-chained audit log that `authfsm
// audit verify` accepts and that shows refresh → fail 502 … → succeed.
//
// On a loaded machine every deadline is generous but bounded: the agent's
// request timeout (agentTimeout), the wait for a token that leaves the
// schedule room, the run after the restart (until the recovery has been
// seen, at most the recovery bound).
func TestAgentNonGoClient(t *testing.T) {
	curl := needTool(t, "curl")
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 3 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: refreshAhead, requestTimeout: agentTimeout,
	})
	first, tok := agentTokenWithRoom(t, a)
	issued, expiry := time.Now(), tok.TokenExpiresAt
	// As in TestNginx502AtRefresh, and before the agent's refresh-ahead
	// point (agentTokenWithRoom leaves room for that).
	stop := issued.Add(stopAfter)
	if latest := stopBefore(tok); latest.Before(stop) {
		stop = latest
	}
	restart := expiry.Add(downAfterExpiry)
	bound := fastPolicy.Max + agentTimeout
	end := restart.Add(bound + runAfterRecovery) // at the latest
	resource := "http://" + a.proxyAddr + tokenserver.ResourcePath

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		calls     []curlCall
		stopped   time.Time
		started   time.Time // under mu
		recovered = make(chan struct{})
		once      sync.Once
	)
	tick := time.NewTicker(cadence)
	defer tick.Stop()
	stopT, restartT, endT := time.NewTimer(time.Until(stop)), time.NewTimer(time.Until(restart)), time.NewTimer(time.Until(end))
	defer stopT.Stop()
	defer restartT.Stop()
	for running := true; running; {
		select {
		case <-tick.C:
			at := time.Now()
			wg.Go(func() {
				status, body := curlGet(t.Context(), curl, resource)
				done := time.Now()
				mu.Lock()
				calls = append(calls, curlCall{at: at, done: done, status: status, body: body})
				after := !started.IsZero() && !at.Before(started)
				mu.Unlock()
				if status == http.StatusOK && after {
					once.Do(func() { close(recovered) })
				}
			})
		case <-stopT.C:
			stopped = time.Now()
			if err := e.srv.Stop(); err != nil {
				t.Fatal(err)
			}
		case <-restartT.C:
			if err := e.srv.Start(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			started = time.Now()
			mu.Unlock()
		case <-recovered:
			// Enough calls after the recovery to see the agent keep
			// serving; no longer than the bound allows.
			recovered = nil
			at := time.Now().Add(runAfterRecovery)
			if least := restart.Add(runAfterRestart); at.Before(least) {
				at = least
			}
			if at.Before(end) {
				endT.Reset(time.Until(at))
			}
		case <-endT.C:
			running = false
		}
	}
	wg.Wait()
	slices.SortFunc(calls, func(x, y curlCall) int { return x.at.Compare(y.at) })

	// What the agent counted, read as a monitoring system would.
	_, metrics := curlGet(t.Context(), curl, "http://localhost/metrics", "--unix-socket", a.apiSock)
	var refreshMetrics []string
	for line := range strings.Lines(metrics) {
		if strings.HasPrefix(line, "authfsm_refresh_attempts_total{") || strings.HasPrefix(line, "authfsm_agent_proxy_requests_total{") {
			refreshMetrics = append(refreshMetrics, strings.TrimSpace(line))
		}
	}
	t.Logf("agent metrics:\n%s", strings.Join(refreshMetrics, "\n"))
	if !slices.ContainsFunc(refreshMetrics, func(l string) bool {
		return strings.HasPrefix(l, `authfsm_refresh_attempts_total{profile="api",outcome="failure",class="transient"} `) && !strings.HasSuffix(l, " 0")
	}) {
		t.Errorf("the agent's metrics count no transient refresh attempt")
	}
	if err := a.stop(t); err != nil {
		t.Errorf("authfsm agent after SIGTERM: %v, want exit status 0", err)
	}

	// The calls.
	ms := func(at time.Time) int64 { return at.Sub(issued).Milliseconds() }
	var failedLog strings.Builder
	failed, failedWhileValid, failedAfterRecovery := 0, 0, 0
	recovery := time.Duration(-1)
	// A call's "at" is when the test started curl; the request reaches the
	// agent a process start later, which on a loaded machine can pass the
	// expiry. A call that failed and returned before the expiry was
	// answered by the agent while its token was valid. Likewise a call
	// started once a call since the restart had come back with 200 (served,
	// when the agent held its new token) reached an agent that must serve.
	var servedAgain time.Time
	for _, c := range calls {
		if c.status == 200 && !c.at.Before(started) {
			if recovery < 0 {
				recovery = c.at.Sub(started)
			}
			if servedAgain.IsZero() || c.done.Before(servedAgain) {
				servedAgain = c.done
			}
		}
	}
	for _, c := range calls {
		if c.status == 200 {
			continue
		}
		failed++
		fmt.Fprintf(&failedLog, "  %6dms %d %s\n", ms(c.at), c.status, strings.TrimSpace(c.body))
		if c.done.Before(expiry) {
			failedWhileValid++
		}
		if !servedAgain.IsZero() && c.at.After(servedAgain) {
			failedAfterRecovery++
		}
	}
	// Token requests nginx saw while the backend was down: each a 502.
	var sent []nginx.LogEntry
	entries, err := e.px.AccessLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range entries {
		if le.Path == tokenserver.TokenPath && !le.At.Before(stopped) && le.At.Before(started) {
			sent = append(sent, le)
		}
	}
	t.Logf("expiry %dms, backend stopped %dms, restarted %dms; %d calls, %d failed; first success %v after the restart; %d token requests answered 502 meanwhile\nfailed calls:\n%s",
		ms(expiry), ms(stopped), ms(started), len(calls), failed, recovery.Round(time.Millisecond), len(sent), failedLog.String())
	if failedWhileValid != 0 {
		t.Errorf("%d calls failed although the agent's token was still valid", failedWhileValid)
	}
	if recovery < 0 || recovery > bound {
		t.Errorf("first success %v after the restart, want within the recovery bound %v", recovery, bound)
	}
	if failedAfterRecovery != 0 {
		t.Errorf("%d calls failed after the first success since the restart", failedAfterRecovery)
	}
	if len(sent) == 0 {
		t.Error("nginx saw no token request while the backend was down")
	}
	for _, le := range sent {
		if le.Status != 502 {
			t.Errorf("token request during the outage answered %d, want nginx's 502", le.Status)
		}
	}
	if max := attemptsWithin(fastPolicy, started.Sub(stopped)); len(sent) > max {
		t.Errorf("the agent sent %d token requests during a %v outage; its policy allows at most %d", len(sent), started.Sub(stopped), max)
	}

	// The audit log: the chain verifies, with the command an operator runs.
	out, errOut, code := runAuthfsm(t, nil, "audit", "verify", a.auditPath)
	t.Logf("authfsm audit verify: exit %d: %s%s", code, out, errOut)
	if code != 0 {
		t.Errorf("authfsm audit verify exited %d, want 0", code)
	}
	recs := readAuditFile(t, a.auditPath)
	seq := transitions(recs)
	t.Logf("audit:\n%s", strings.Join(seq, "\n"))
	checkAgentAudit(t, seq)

	// Nothing secret in the agent's log or audit trail; the rotated pair
	// reached the store, which only its owner may read.
	raw, _ := os.ReadFile(a.auditPath)
	secrets := []string{login.RefreshToken, login.AccessToken, first.AccessToken, tok.AccessToken, e.srv.ClientSecret()}
	assertNoSecret(t, "agent log", a.stderr.String(), secrets...)
	assertNoSecret(t, "audit log", string(raw), secrets...)
	store := filepath.Join(a.dir, "store.json")
	if fi, err := os.Stat(store); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store: %v, %v; want a file of mode 0600", fi, err)
	} else if b, _ := os.ReadFile(store); bytes.Contains(b, []byte(login.RefreshToken)) {
		t.Error("the store still holds the seed refresh token after its rotation")
	}
}

// stopBefore is the latest instant TestAgentNonGoClient may stop the
// backend for the agent's token tok: before the agent's refresh-ahead
// point, with a margin.
func stopBefore(tok agent.TokenResponse) time.Time {
	return tok.TokenExpiresAt.Add(-refreshAhead - 200*time.Millisecond)
}

// agentTokenWithRoom returns the agent's first token and the token the
// outage's schedule starts from: the first, unless too little of its life
// is left to stop the backend before the agent's refresh-ahead point —
// fosite gives whole seconds of lifetime (a 3 s token may say 2 s), and
// the agent's start on a loaded machine eats into the rest — in which case
// the agent's next token, waited for (at most two lifetimes).
func agentTokenWithRoom(t *testing.T, a *agentProc) (first, tok agent.TokenResponse) {
	t.Helper()
	const room = 300 * time.Millisecond
	first, err := a.apiToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok = first
	waitFor(t, "an agent's token that leaves the schedule room", 10*time.Second, func() bool {
		if time.Until(stopBefore(tok)) >= room {
			return true
		}
		if next, err := a.apiToken(t.Context()); err == nil && next.TokenExpiresAt.After(tok.TokenExpiresAt) {
			tok = next
			return time.Until(stopBefore(tok)) >= room
		}
		return false
	})
	return first, tok
}

// readAuditFile decodes a hash-chained audit log's records.
func readAuditFile(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit log line %d: %v", len(recs)+1, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkAgentAudit checks the agent's audit sequence: the first token,
// obtained with the seed refresh token when the agent started, then the
// outage's refresh → fail 502 … → succeed, then nothing but ordinary
// refresh-ahead cycles. An ordinary cycle before the outage (the schedule
// waited for a fresh token, agentTokenWithRoom) folds into the first
// refresh-ahead line, as transitions collapses repeats.
func checkAgentAudit(t *testing.T, seq []string) {
	t.Helper()
	want := []string{
		"expired→refreshing refresh: token demanded",
		"refreshing→valid succeed",
		"valid→refreshing refresh_ahead: refresh-ahead point reached",
		"refreshing→backoff fail: 502 Bad Gateway",
		"backoff→refreshing retry: retry due",
		"refreshing→valid succeed",
	}
	end := min(len(want), len(seq))
	if diff := cmp.Diff(want, seq[:end]); diff != "" {
		t.Errorf("audit up to the recovery (-want +got):\n%s", diff)
	}
	for _, line := range seq[end:] {
		if line != want[2] && line != want[5] {
			t.Errorf("after the recovery: %s", line)
		}
	}
}

// execCredential mirrors Kubernetes' client.authentication.k8s.io/v1
// ExecCredential (k8s.io/client-go/pkg/apis/clientauthentication/v1), the
// document a kubeconfig's exec plugin prints, field for field; decoding is
// strict, so a misspelt member fails.
type execCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Cluster     *json.RawMessage `json:"cluster,omitempty"`
		Interactive bool             `json:"interactive"`
	} `json:"spec"`
	Status *struct {
		// A metav1.Time: RFC 3339, UTC, whole seconds.
		ExpirationTimestamp   *time.Time `json:"expirationTimestamp,omitempty"`
		Token                 string     `json:"token,omitempty"`
		ClientCertificateData string     `json:"clientCertificateData,omitempty"`
		ClientKeyData         string     `json:"clientKeyData,omitempty"`
	} `json:"status,omitempty"`
}

// agentTokenJSON is `authfsm token --format json`'s output.
type agentTokenJSON struct {
	AccessToken    string    `json:"access_token"`
	TokenType      string    `json:"token_type"`
	ExpiresAt      time.Time `json:"expires_at"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
	State          string    `json:"state"`
}

// TestExecCredential runs `authfsm token --format exec-credential` as
// kubectl runs a credential plugin, against a running agent: the output
// decodes as a client.authentication.k8s.io/v1 ExecCredential whose token is
// the agent's, accepted by the resource server, and whose
// expirationTimestamp is the instant the agent stops handing the token out
// (its expires_at rounded down to the second: refresh_ahead and a handover
// of at most agent.Handover before the token's expiry, token_expires_at,
// which is within a second of fosite's own). Asked again just after that
// instant, as kubectl does, it carries the refreshed token; v1beta1 is
// answered when KUBERNETES_EXEC_INFO asks for it; without an agent the
// command fails with nothing on standard output.
func TestExecCredential(t *testing.T) {
	e := newEnv(t, tokenserver.Config{AccessTokenLifespan: 3 * time.Second}, nginx.Config{})
	_, login := e.login(t, 0)
	a := startAgent(t, agentSpec{
		tokenURL: e.tokenURL(), clientID: e.srv.ClientID(), clientSecret: e.srv.ClientSecret(), seed: login.RefreshToken,
		upstream: e.px.URL(), refreshAhead: refreshAhead, requestTimeout: requestTimeout,
	})
	token := func(env []string, format string) string {
		t.Helper()
		out, errOut, code := runAuthfsm(t, env, "token", "--socket", a.apiSock, "--format", format)
		if code != 0 || errOut != "" {
			t.Fatalf("authfsm token --format %s: exit %d: %s", format, code, errOut)
		}
		return out
	}
	asJSON := func() agentTokenJSON {
		t.Helper()
		var tok agentTokenJSON
		if err := json.Unmarshal([]byte(token(nil, "json")), &tok); err != nil {
			t.Fatalf("authfsm token --format json: %v", err)
		}
		return tok
	}
	// An ExecCredential, with fosite's expiry of its token, between two
	// json answers that agree: a refresh in between makes them disagree
	// (and fosite revokes the previous access token when it refreshes),
	// and then it is asked for again.
	type credentialRun struct {
		ec        execCredential
		rawExpiry string         // status.expirationTimestamp as written
		tok       agentTokenJSON // the agent's token as --format json gives it
		server    time.Time      // fosite's expiry of the token
	}
	credential := func(env ...string) credentialRun {
		t.Helper()
		for range 3 {
			var r credentialRun
			r.tok = asJSON()
			out := token(env, "exec-credential")
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r.ec); err != nil {
				t.Fatalf("the output is not an ExecCredential: %v\n%s", err, out)
			}
			var raw struct {
				Status struct {
					ExpirationTimestamp string `json:"expirationTimestamp"`
				} `json:"status"`
			}
			_ = json.Unmarshal([]byte(out), &raw)
			r.rawExpiry = raw.Status.ExpirationTimestamp
			var err error
			if r.ec.Status != nil {
				r.server, err = e.srv.AccessTokenExpiry(t.Context(), r.ec.Status.Token)
			}
			if after := asJSON(); after != r.tok || err != nil {
				t.Logf("the agent's token changed meanwhile (fosite: %v); asking again", err)
				continue
			}
			return r
		}
		t.Fatal("the agent's token changed between every two runs of `authfsm token`")
		return credentialRun{}
	}
	check := func(r credentialRun, apiVersion string) time.Time {
		t.Helper()
		ec := r.ec
		if ec.Kind != "ExecCredential" || ec.APIVersion != apiVersion {
			t.Errorf("kind %q, apiVersion %q; want ExecCredential, %s", ec.Kind, ec.APIVersion, apiVersion)
		}
		if ec.Spec.Interactive || ec.Spec.Cluster != nil {
			t.Errorf("spec = %+v, want the zero spec", ec.Spec)
		}
		if ec.Status == nil || ec.Status.Token == "" || ec.Status.ExpirationTimestamp == nil {
			t.Fatalf("status = %+v, want token and expirationTimestamp", ec.Status)
		}
		if ec.Status.Token != r.tok.AccessToken {
			t.Error("status.token is not the agent's access token")
		}
		if ec.Status.ClientCertificateData != "" || ec.Status.ClientKeyData != "" {
			t.Error("status carries client certificate data")
		}
		// metav1.Time's own form, which client-go parses.
		exp := *ec.Status.ExpirationTimestamp
		if want := exp.UTC().Format(time.RFC3339); r.rawExpiry != want {
			t.Errorf("expirationTimestamp %q, want the RFC 3339 UTC form %q", r.rawExpiry, want)
		}
		if d := r.tok.ExpiresAt.Sub(exp); d < 0 || d >= time.Second {
			t.Errorf("expirationTimestamp %v, the agent's expires_at %v: want it within the second before", exp, r.tok.ExpiresAt)
		}
		// The agent's session shares its token file's family, so its
		// refresh point comes up to the family's spread earlier
		// (states.RefreshSpreadBound).
		spread := states.RefreshSpreadBound(refreshAhead)
		if d := r.tok.TokenExpiresAt.Sub(r.tok.ExpiresAt); d < refreshAhead || d > refreshAhead+spread+agent.Handover {
			t.Errorf("expires_at %v, token_expires_at %v: want refresh_ahead (%v), at most the family's spread (%v) and a handover of at most %v between them",
				r.tok.ExpiresAt, r.tok.TokenExpiresAt, refreshAhead, spread, agent.Handover)
		}
		if d := r.server.Sub(r.tok.TokenExpiresAt); d < -time.Second || d > time.Second {
			t.Errorf("token_expires_at %v, fosite's expiry of the token %v: more than a second apart", r.tok.TokenExpiresAt, r.server)
		}
		t.Logf("%s: expirationTimestamp %s; the agent's expires_at %s, token_expires_at %s, fosite's %s", apiVersion, r.rawExpiry,
			r.tok.ExpiresAt.Format(time.RFC3339Nano), r.tok.TokenExpiresAt.Format(time.RFC3339Nano), r.server.UTC().Format(time.RFC3339Nano))
		return exp
	}

	first := credential()
	exp := check(first, "client.authentication.k8s.io/v1")
	// The token works where kubectl would send it.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.resourceURL(), nil)
	req.Header.Set("Authorization", "Bearer "+first.ec.Status.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("the resource with the ExecCredential's token: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
		t.Errorf("the resource with the ExecCredential's token: %s", resp.Status)
	}

	// v1beta1, as an older client asks through KUBERNETES_EXEC_INFO.
	info := `KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}`
	check(credential(info), "client.authentication.k8s.io/v1beta1")

	// Just past the agent's expires_at kubectl runs the plugin again and
	// gets the token the agent refreshed meanwhile, or is about to: the
	// agent waits for it rather than hand out the token its refresh revokes.
	time.Sleep(time.Until(first.tok.ExpiresAt.Add(100 * time.Millisecond)))
	later := credential()
	if exp2 := check(later, "client.authentication.k8s.io/v1"); !exp2.After(exp) || later.ec.Status.Token == first.ec.Status.Token {
		t.Errorf("after the expiry: expirationTimestamp %v (was %v), token changed %t; want a later expiry and a new token",
			exp2, exp, later.ec.Status.Token != first.ec.Status.Token)
	}

	// Without the agent: exit status 1, the reason on standard error,
	// nothing kubectl could mistake for a credential on standard output.
	if err := a.stop(t); err != nil {
		t.Errorf("authfsm agent after SIGTERM: %v", err)
	}
	out, errOut, code := runAuthfsm(t, nil, "token", "--socket", a.apiSock, "--format", "exec-credential")
	if code != 1 || out != "" || !strings.Contains(errOut, "cannot reach the agent") {
		t.Errorf("without the agent: exit %d, stdout %q, stderr %q; want 1, nothing, the reason", code, out, errOut)
	}
	assertNoSecret(t, "agent log", a.stderr.String(), login.RefreshToken, first.ec.Status.Token, later.ec.Status.Token)
}
