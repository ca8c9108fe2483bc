package agent

import (
	"bufio"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/session/ops"
)

// TestMetricsVocabulary: the agent's /metrics names what a session
// reports as contrib/prometheus does, from the same definitions
// (ops.Metric*: name, type, help, labels), with a profile label added;
// what only the agent has is named authfsm_agent_*.
func TestMetricsVocabulary(t *testing.T) {
	ts := newTokenServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			status(http.StatusBadGateway)(n, w)
			return
		}
		issue(n, w)
	})
	dir := shortDir(t)
	writeSecret(t, dir, "s3cr3t")
	startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    client_secret_file: `+filepath.Join(dir, "secret")+`
    grant: client_credentials
    session: {wait_for_refresh: 5s, policy: {kind: constant, initial: 10ms, jitter: none}}
`, Options{})
	c := unixClient(filepath.Join(dir, "api.sock"))
	if code, _, body := get(t, c, "http://localhost/v1/token", map[string]string{TokenRequestHeader: "1"}); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	_, h, m := get(t, c, "http://localhost/metrics", nil)
	if ct := h.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	// Every family: its HELP and TYPE, then its samples.
	type family struct{ help, typ string }
	families := map[string]family{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(m))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			families[name] = family{help: help}
			order = append(order, name)
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			f := families[name]
			f.typ = typ
			families[name] = f
		} else if !strings.HasPrefix(line, `authfsm_`) || !strings.Contains(line, `{profile="api"`) {
			t.Errorf("a sample without the profile label, or not authfsm's: %s", line)
		}
	}
	shared := []ops.MetricDesc{ops.MetricSessions, ops.MetricRefreshAttempts, ops.MetricRefreshDuration,
		ops.MetricTokenExpiry, ops.MetricStoreErrors, ops.MetricThrottledAttempts}
	for _, d := range shared {
		f, ok := families[d.FullName("")]
		if !ok || f.help != d.Help || f.typ != d.Type {
			t.Errorf("%s: HELP %q TYPE %q; want session's %q, %q", d.FullName(""), f.help, f.typ, d.Help, d.Type)
		}
	}
	for _, name := range order {
		if !strings.HasPrefix(name, "authfsm_agent_") && !slices.ContainsFunc(shared, func(d ops.MetricDesc) bool { return d.FullName("") == name }) {
			t.Errorf("%s: neither a session metric of ops.Metric* nor an authfsm_agent_ one", name)
		}
	}
	for _, want := range []string{
		`authfsm_sessions{profile="api",state="valid"} 1`,
		`authfsm_sessions{profile="api",state="backoff"} 0`,
		`authfsm_refresh_attempts_total{profile="api",outcome="failure",class="transient"} 1`,
		`authfsm_refresh_attempts_total{profile="api",outcome="success",class="ok"} 1`,
		`authfsm_refresh_duration_seconds_bucket{profile="api",le="+Inf"} 2`,
		`authfsm_refresh_duration_seconds_count{profile="api"} 2`,
		`authfsm_store_errors_total{profile="api",op="save"} 0`,
		`authfsm_throttled_attempts_total{profile="api"} 0`,
		`authfsm_token_expiry_timestamp_seconds{profile="api"} `,
		`authfsm_agent_token_valid{profile="api"} 1`,
		`authfsm_agent_token_requests_total{profile="api",result="served"} 1`,
		`authfsm_agent_token_handovers_total{profile="api"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
}
