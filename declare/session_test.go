package declare_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
)

// sessionNode returns the session block of a profile-like document.
func sessionNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestParseNode(t *testing.T) {
	def := declare.Default()
	for _, tc := range []struct {
		name string
		src  string
		want func(*declare.Session)
		err  string // a substring of the error; "" for none
	}{
		{name: "defaults", src: "{}", want: func(*declare.Session) {}},
		{name: "every key", src: `refresh_ahead: 2m
request_timeout: 5s
wait_for_refresh: 20s
fallback: true
policy: {kind: constant, initial: 3s, jitter: none}
throttle: {kind: adaptive, k: 3, window: 1m, probe: 10s}`, want: func(s *declare.Session) {
			s.RefreshAhead, s.RequestTimeout, s.WaitForRefresh, s.Fallback = 2*time.Minute, 5*time.Second, 20*time.Second, true
			s.Policy = policy.Spec{Kind: "constant", Initial: 3 * time.Second, Jitter: policy.NoJitter}
			s.Throttle = policy.ThrottleSpec{Kind: "adaptive", K: 3, Window: time.Minute, Probe: 10 * time.Second}
		}},
		{name: "throttle none", src: "throttle: {kind: none}", want: func(s *declare.Session) {}},
		{name: "family settings", src: "lease: 45s\nreuse_grace: 1m\nsolo_when_store_down: true", want: func(s *declare.Session) {
			s.Lease, s.ReuseGrace, s.SoloWhenStoreDown = 45*time.Second, time.Minute, true
		}},
		// The default lease with a long request timeout is the runtime's to
		// lengthen; a lease given must outlast the request it covers.
		{name: "long request, default lease", src: "request_timeout: 1m", want: func(s *declare.Session) { s.RequestTimeout = time.Minute }},
		{name: "lease within the request", src: "request_timeout: 30s\nlease: 30s",
			err: "declare: agent.yaml:2: profiles.api.session.lease: 30s does not outlast one refresh request (request_timeout 30s)"},
		{name: "lease too short", src: "lease: 10ms", err: "profiles.api.session.lease"},
		{name: "unknown key", src: "refresh_ahed: 1m", err: "declare: agent.yaml:1: profiles.api.session.refresh_ahed: unknown key"},
		{name: "bad duration", src: "request_timeout: soon", err: "profiles.api.session.request_timeout"},
		{name: "bad throttle key", src: "throttle: {kind: adaptive, window: 10ms}", err: "profiles.api.session.throttle.window"},
		{name: "throttle kind", src: "throttle: {kind: sre}", err: "profiles.api.session.throttle.kind"},
		{name: "not a mapping", src: "[1]", err: "want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := declare.ParseNode("agent.yaml", sessionNode(t, tc.src), "profiles.api.session")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				var de *declare.Error
				if !errors.As(err, &de) || de.File != "agent.yaml" || de.Line == 0 || !strings.HasPrefix(de.Key, "profiles.api.session") {
					t.Errorf("error %#v is not a *declare.Error naming the file, the line and the key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("session differs (-want +got):\n%s", diff)
			}
		})
	}
	if s, err := declare.ParseNode("agent.yaml", nil, "session"); err != nil || !cmp.Equal(s, def) {
		t.Errorf("nil node: %+v, %v; want the defaults", s, err)
	}
}
