package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimProfile: `sim --profile` runs a scenario with the session block an
// agent profile deploys, in place of the scenario's.
func TestSimProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, profiles string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("listen: 127.0.0.1:8180\nprofiles:\n"+profiles), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	profile := func(name, session string) string {
		return "  " + name + ":\n    token_url: https://auth.example/token\n    store: {path: t.json}\n    session: " + session + "\n"
	}
	// No margin: the 502 around the expiry is met at expiry, and calls fail.
	noMargin := write("nomargin.yaml", profile("api", "{refresh_ahead: 0s, policy: {kind: constant, initial: 2s, jitter: none}}"))
	two := write("two.yaml", profile("api", "{refresh_ahead: 0s}")+profile("safe", "{refresh_ahead: 10m, request_timeout: 5s}"))
	throttled := write("throttle.yaml", profile("api", "{throttle: {kind: adaptive}}"))
	badPolicy := write("badpolicy.yaml", profile("api", "{policy: {kind: constant, initial: 2s, max: 5s}}"))
	// A declared session in a file of its own, as a program embeds it.
	declared := filepath.Join(dir, "session.yaml")
	badDeclared := filepath.Join(dir, "bad-session.yaml")
	for path, src := range map[string]string{
		declared:    "refresh_ahead: 0s\npolicy: {kind: constant, initial: 2s, jitter: none}\n",
		badDeclared: "refresh_ahead: 0s\npolicy: {kind: fast}\n",
	} {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"the profile's settings", []string{"sim", "--profile", noMargin, seedFile}, exitFailed,
			"FAIL seed-502-at-refresh  seed 7, profile api of " + noMargin + ", policy constant 2s jitter=none, refresh ahead 0s, 1 session", ""},
		{"reproduced with the profile", []string{"sim", seedFile, "--profile", noMargin}, exitFailed,
			"reproduce: authfsm sim --seed 7 --profile " + noMargin + " " + seedFile, ""},
		{"a named profile", []string{"sim", "--profile", two + "#safe", seedFile}, exitOK,
			"PASS seed-502-at-refresh  seed 7, profile safe of " + two + ", policy exponential 1s×2 max 1m0s jitter=full, refresh ahead 10m0s", ""},
		{"several profiles, none named", []string{"sim", "--profile", two, seedFile}, exitBadInput, "", "has 2 profiles (api, safe): name one"},
		{"an unknown profile", []string{"sim", "--profile", two + "#nope", seedFile}, exitBadInput, "", `has no profile "nope"`},
		{"with --policy", []string{"sim", "--profile", noMargin, "--policy", "none", seedFile}, exitBadInput, "", "drop --policy"},
		{"a throttle", []string{"sim", "--profile", throttled, seedFile}, exitOK, "throttle adaptive k=2 window 2m0s probe 30s", ""},
		{"a bad policy, named once", []string{"sim", "--profile", badPolicy, seedFile}, exitBadInput, "",
			"badpolicy.yaml:6: profiles.api.session.policy: max does not apply to a constant policy"},
		{"a bad profile file", []string{"sim", "--profile", seedFile, seedFile}, exitBadInput, "", "502-at-refresh.yaml:1: name: unknown key"},
		{"a session file", []string{"sim", "--profile", declared, seedFile}, exitFailed,
			"FAIL seed-502-at-refresh  seed 7, profile " + declared + ", policy constant 2s jitter=none, refresh ahead 0s, 1 session", ""},
		{"a bad session file", []string{"sim", "--profile", badDeclared, seedFile}, exitBadInput, "", "declare: " + badDeclared + ":2: policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d\nstdout %s\nstderr %s\nwant %d, %q, %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
