package declare_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// TestLoad: a file declares a session with the session block's keys at its
// top level; its problems name the file, the line and the key.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.yaml", "# the platform's session\nrefresh_ahead: 2m\npolicy:\n  kind: constant\n  initial: 3s\n  jitter: none\n")
	got, err := declare.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	want := declare.Default()
	want.RefreshAhead, want.Policy = 2*time.Minute, policy.Spec{Kind: "constant", Initial: 3 * time.Second, Jitter: policy.NoJitter}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("declared (-want +got):\n%s", diff)
	}
	if got, err := declare.Load(write("empty.yaml", "")); err != nil || !cmp.Equal(got, declare.Default()) {
		t.Errorf("an empty file: %+v, %v; want the defaults", got, err)
	}
	for _, tc := range []struct {
		name, src string
		kind      error
		want      string
	}{
		{"unknown key", "refresh_ahead: 1m\nrefresh_ahed: 2m\n", declare.ErrUnknownKey, ":2: refresh_ahed: unknown key (known: refresh_ahead, request_timeout, wait_for_refresh, policy, fallback, throttle, lease, reuse_grace, solo_when_store_down)"},
		{"bad policy kind", "policy:\n  kind: fast\n", declare.ErrInvalid, ":2: policy: "},
		// The key names the policy once: not "policy: policy: max …".
		{"a key the policy's kind does not use", "policy: {kind: constant, initial: 2s, max: 5s}\n", declare.ErrInvalid, ":1: policy: max does not apply to a constant policy"},
		{"out of range", "request_timeout: 2h\n", declare.ErrInvalid, ":1: request_timeout: 2h0m0s is out of range [1ms, 1h0m0s]"},
		{"not a duration", "wait_for_refresh: soon\n", declare.ErrInvalid, `:1: wait_for_refresh: "soon" is not a Go duration`},
		{"syntax", "refresh_ahead: [\n", declare.ErrSyntax, "declare: "},
		{"two documents", "refresh_ahead: 1m\n---\nfallback: true\n", declare.ErrInvalid, ":2: a second YAML document"},
		{"not a mapping", "- 1\n", declare.ErrInvalid, ":1: want a mapping, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.src)
			_, err := declare.Load(path)
			var de *declare.Error
			if !errors.As(err, &de) || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "declare: "+path) {
				t.Errorf("Load = %v, want a *declare.Error of kind %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
	if _, err := declare.Load(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "cannot read: no such file") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestDefaultIsTheRuntimes: what a block that leaves every key out
// declares is the runtime's defaults, defined once.
func TestDefaultIsTheRuntimes(t *testing.T) {
	d := declare.Default()
	if d.RefreshAhead != states.DefaultRefreshAhead || d.RequestTimeout != states.DefaultRequestTimeout || d.WaitForRefresh != 0 ||
		d.Policy != policy.DefaultSpec() || d.Fallback || d.Throttle != (policy.ThrottleSpec{}) {
		t.Errorf("Default() = %+v", d)
	}
}

// TestYAMLRoundTrip: YAML writes a session that ParseNode reads back.
func TestYAMLRoundTrip(t *testing.T) {
	for _, s := range []declare.Session{
		declare.Default(),
		{RefreshAhead: time.Minute, RequestTimeout: 3 * time.Second, WaitForRefresh: 20 * time.Second, Fallback: true,
			Policy:   policy.Spec{Kind: "constant", Initial: 2 * time.Second, Jitter: policy.EqualJitter, MaxAttempts: 4},
			Throttle: policy.ThrottleSpec{Kind: policy.ThrottleAdaptive, K: 1.5, Window: time.Minute, Probe: 10 * time.Second},
			Lease:    45 * time.Second, ReuseGrace: time.Minute, SoloWhenStoreDown: true},
		{RequestTimeout: time.Second, Policy: policy.Spec{Kind: "none"}, Lease: states.DefaultLease},
		// A request timeout the default lease does not outlast: the lease
		// is left out, and reads back as the default the runtime lengthens.
		{RequestTimeout: time.Minute, Policy: policy.Spec{Kind: "none"}, Lease: states.DefaultLease},
	} {
		got, err := declare.Parse("s.yaml", []byte(s.YAML("")))
		if err != nil {
			t.Fatalf("%v\n%s", err, s.YAML(""))
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("read back (-written +read):\n%s\n%s", diff, s.YAML(""))
		}
	}
}
