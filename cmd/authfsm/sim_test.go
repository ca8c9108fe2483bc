package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/sim"
)

const (
	seedFile     = "../../testdata/scenarios/502-at-refresh.yaml"
	noMarginFile = "../../testdata/scenarios/502-at-expiry-no-margin.yaml"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestSimCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: b\nduration: 1h\ntoken: {ttl: 1h}\nworkload:\n  - {kind: requests, evry: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No faults: every policy meets the expectations.
	calm := filepath.Join(dir, "calm.yaml")
	if err := os.WriteFile(calm, []byte("name: c\nduration: 2h\ntoken: {ttl: 1h}\nexpect: {final_state: valid}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A throttled fleet through an outage; compare adds a throttle column.
	throttled := filepath.Join(dir, "throttled.yaml")
	if err := os.WriteFile(throttled, []byte("name: th\nduration: 2h\ntoken: {ttl: 1h}\nsession:\n  throttle: {kind: adaptive, probe: 10s}\n"+
		"server: {faults: [{from: 55m, to: 1h10m, kind: status, status: 503}]}\nfleet: {sessions: 20, start_spread: 15m}\nexpect: {final_state: valid}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badThrottle := filepath.Join(dir, "bad-throttle.yaml")
	if err := os.WriteFile(badThrottle, []byte("name: b\nduration: 1h\ntoken: {ttl: 1h}\nsession:\n  throttle:\n    kind: adaptive\n    k: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "t.svg")
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("name: h\nduration: 8760h\ntoken: {ttl: 1h}\nworkload: [{kind: requests, every: 1ms}]\nfleet: {sessions: 100000}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	perMilli := filepath.Join(dir, "per-ms.yaml")
	if err := os.WriteFile(perMilli, []byte("name: m\nduration: 24h\ntoken: {ttl: 1h}\nworkload: [{kind: requests, every: 1ms}]\nfleet: {sessions: 1000}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("name: b\nduration: 1h\ntoken: {ttl: 1h}\ndescription: "+strings.Repeat("x", 1<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fleetFail := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleetFail, []byte("name: f\nseed: 4\nduration: 3h\ntoken: {ttl: 1h}\nfleet: {sessions: 20, start_spread: 2h}\n"+
		"server: {faults: [{at: 2h20m, kind: revoke}]}\nworkload: [{kind: requests, every: 10m}]\nexpect: {never_states: [revoked]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twoDocs := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(twoDocs, []byte("name: c\nduration: 2h\ntoken: {ttl: 1h}\n---\nname: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"passes", []string{"sim", seedFile}, exitOK, "PASS seed-502-at-refresh  seed 7", ""},
		{"flags after the file", []string{"sim", seedFile, "--json", "--seed", "9"}, exitOK, `{"name":"seed-502-at-refresh","seed":9,`, ""},
		{"policy override fails", []string{"sim", "--policy", "none", noMarginFile}, exitFailed, "reproduce: authfsm sim --seed 7 --policy none " + noMarginFile, ""},
		{"unknown policy", []string{"sim", "--policy", "linear", seedFile}, exitBadInput, "", `authfsm sim: --policy "linear" is not a policy kind (one of none, constant, exponential)`},
		{"empty policy", []string{"sim", "--policy", "", seedFile}, exitBadInput, "", "authfsm sim: --policy needs a kind (one of none, constant, exponential)"},
		{"empty policy after the file", []string{"sim", seedFile, "--policy="}, exitBadInput, "", "--policy needs a kind"},
		{"unknown key", []string{"sim", bad}, exitBadInput, "", bad + ":5: workload[0].evry: unknown key"},
		{"missing file", []string{"sim", filepath.Join(dir, "none.yaml")}, exitBadInput, "", "none.yaml: cannot read"},
		{"no file", []string{"sim", "--json"}, exitBadInput, "", "no scenario file"},
		{"bad among good", []string{"sim", seedFile, bad}, exitBadInput, "PASS", "unknown key"},
		{"svg", []string{"sim", "--svg", svg, seedFile}, exitOK, "PASS", ""},
		{"text trace", []string{"sim", "--trace", seedFile}, exitOK, "  trace:\n           55m0s  valid      → refreshing refresh_ahead refresh-ahead point reached\n", ""},
		{"too much work", []string{"sim", huge}, exitBadInput, "", "authfsm sim: " + huge + ": the run needs about 1911772727 events"},
		{"too much work names the flag", []string{"sim", huge}, exitBadInput, "", "more than --max-events allows (300000000, about a minute of work); run it with --max-events 1911772727"},
		{"plain calls are counted, not refused", []string{"sim", perMilli}, exitOK, "calls: 86400000000, failed 0; refresh requests: 26000", ""},
		{"a lower bound", []string{"sim", "--max-events", "10", seedFile}, exitBadInput, "", "more than --max-events allows (10); run it with --max-events"},
		{"compare, too much work", []string{"compare", "--max-events", "100", noMarginFile}, exitBadInput, "", "authfsm compare: " + noMarginFile + ": its runs (one per policy) need about"},
		{"file over 1 MiB", []string{"sim", big}, exitBadInput, "", big + ": larger than 1 MiB"},
		{"a failing fleet shows the session that failed", []string{"sim", fleetFail}, exitFailed,
			"  timeline of session 13 (the first to enter revoked):\n    1h30m35.552s  valid      → refreshing refresh_ahead", ""},
		{"fleet sums", []string{"sim", fleetFail}, exitFailed, "  time in state (sum over 20 sessions): valid 36h49m37.597s", ""},
		{"--session picks one", []string{"sim", "--session", "3", fleetFail}, exitFailed, "  timeline of session 3:\n", ""},
		{"--session out of range", []string{"sim", fleetFail, "--session", "20"}, exitBadInput, "", "authfsm sim: " + fleetFail + ": --session 20: the scenario's sessions are 0 to 19"},
		{"second document", []string{"sim", twoDocs}, exitBadInput, "", twoDocs + ":5: a second YAML document"},
		{"compare with failing rows", []string{"compare", noMarginFile}, exitFailed, "exponential 1s×2 max 1m0s jitter=decorrelated", ""},
		{"compare all pass", []string{"compare", calm}, exitOK, "none ", ""},
		{"compare with a throttle", []string{"compare", throttled}, exitFailed, "policy                                         throttle  failed calls", ""},
		{"sim with a throttle", []string{"sim", "--json", throttled}, exitOK, `"throttled_requests":`, ""},
		{"bad throttle", []string{"sim", badThrottle}, exitBadInput, "", badThrottle + ":7: session.throttle.k: "},
		{"fuzz", []string{"fuzz", "--runs", "50", "--json"}, exitOK, `{"runs":50,"seed":1,"violation":false}`, ""},
		{"fuzz with a file", []string{"fuzz", seedFile}, exitBadInput, "", "takes no file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("authfsm %v: exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout ∋ %q, stderr ∋ %q",
					tc.args, code, tc.code, out, errOut, tc.stdout, tc.stderr)
			}
		})
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("--svg did not write an SVG: %v", err)
	}
}

// TestSimJSONIsStable checks that the same file, seed and flags give
// byte-identical output whatever the flag order: for each file its result
// line, then one line per transition, as many as the result counts.
func TestSimJSONIsStable(t *testing.T) {
	_, a, _ := runCLI("sim", "--json", "--trace", seedFile, seedFile)
	_, b, _ := runCLI("sim", seedFile, seedFile, "--trace", "--json")
	if a != b {
		t.Fatalf("outputs differ:\n%s\n%s", a, b)
	}
	lines := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	for run := 0; run < 2; run++ {
		var res struct {
			Passed bool `json:"passed"`
			Stats  struct {
				Transitions int `json:"transitions"`
			} `json:"stats"`
			Trace []json.RawMessage `json:"trace"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &res); err != nil || !res.Passed || res.Trace != nil || res.Stats.Transitions == 0 {
			t.Fatalf("result %s: passed %v, trace %v, err %v", lines[0], res.Passed, res.Trace, err)
		}
		for k := 1; k <= res.Stats.Transitions; k++ {
			var e struct {
				Seq  int    `json:"seq"`
				From string `json:"from"`
			}
			if err := json.Unmarshal([]byte(lines[k]), &e); err != nil || e.Seq != k || e.From == "" {
				t.Fatalf("line %d: %s (%v)", k, lines[k], err)
			}
		}
		lines = lines[1+res.Stats.Transitions:]
	}
	if len(lines) != 0 {
		t.Errorf("%d lines left over", len(lines))
	}
}

// TestFuzzWritesNothingWithoutViolation checks that a clean fuzz session
// leaves the output directory alone. (The failing path, shrinking and the
// written file's reproduction, is tested in package sim with a broken
// classifier.)
func TestFuzzWritesNothingWithoutViolation(t *testing.T) {
	dir := t.TempDir()
	if code, _, _ := runCLI("fuzz", "--runs", "20", "--out", dir); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("fuzz wrote %d files without a violation", len(entries))
	}
}

func TestReproduceLine(t *testing.T) {
	for _, tc := range []struct {
		profile, kind, file, want string
		maxEvents                 int64
	}{
		{"", "", "a.yaml", "authfsm sim --seed 7 a.yaml", 0},
		{"", "", "a.yaml", "authfsm sim --seed 7 --max-events 1000000000 a.yaml", 1_000_000_000},
		{"", "", "-x.yaml", "authfsm sim --seed 7 -- -x.yaml", 0},
		{"", "", "-", "authfsm sim --seed 7 -", 0},
		{"", "none", "dir/a-b_c.yaml", "authfsm sim --seed 7 --policy none dir/a-b_c.yaml", 0},
		{"agent.yaml#api", "", "a.yaml", "authfsm sim --seed 7 --profile 'agent.yaml#api' a.yaml", 0},
		{"", "", "my scenarios/a.yaml", "authfsm sim --seed 7 'my scenarios/a.yaml'", 0},
		{"", "", "it's.yaml", `authfsm sim --seed 7 'it'\''s.yaml'`, 0},
		{"", "", "$(rm -rf x).yaml", "authfsm sim --seed 7 '$(rm -rf x).yaml'", 0},
		{"", "", "", "authfsm sim --seed 7 ''", 0},
	} {
		if tc.maxEvents == 0 {
			tc.maxEvents = sim.DefaultMaxEvents
		}
		if got := reproduceLine(7, tc.profile, tc.kind, tc.maxEvents, tc.file); got != tc.want {
			t.Errorf("reproduceLine(%q, %q, %q) = %s, want %s", tc.profile, tc.kind, tc.file, got, tc.want)
		}
	}
}

// TestSimSVGSession: the picture of a fleet draws, under the fleet's
// shares, the session --session names: another session, another picture;
// without the flag, the session that made the run fail, as the report.
func TestSimSVGSession(t *testing.T) {
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleet, []byte("name: f\nseed: 4\nduration: 3h\ntoken: {ttl: 1h}\nfleet: {sessions: 20, start_spread: 2h}\n"+
		"server: {faults: [{at: 2h20m, kind: revoke}]}\nworkload: [{kind: requests, every: 10m}]\nexpect: {never_states: [revoked]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	picture := func(args ...string) string {
		t.Helper()
		out := filepath.Join(dir, "out.svg")
		if code, _, errOut := runCLI(append([]string{"sim", "--svg", out, fleet}, args...)...); code != exitFailed || errOut != "" {
			t.Fatalf("sim %v: exit %d, stderr %s", args, code, errOut)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s3, s5, failing := picture("--session", "3"), picture("--session", "5"), picture()
	if s3 == s5 || !strings.Contains(s3, ">session 3 of 20<") || !strings.Contains(s5, ">session 5 of 20<") {
		t.Errorf("--session 3 and 5: the same picture %t, naming them %t %t", s3 == s5,
			strings.Contains(s3, ">session 3 of 20<"), strings.Contains(s5, ">session 5 of 20<"))
	}
	if !strings.Contains(failing, ">session 13 of 20<") {
		t.Errorf("without --session, the picture does not draw session 13, the first to enter revoked")
	}
}
