package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

const minimal = "name: x\nduration: 1h\ntoken: {ttl: 10m}\n"

// families is minimal with four processes in two token families.
const families = minimal + "fleet: {sessions: 4, families: 2}\n"

func TestParseDefaults(t *testing.T) {
	sc, err := Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.File, want.Name, want.Duration, want.Token.TTL = "min.yaml", "x", time.Hour, 10*time.Minute
	if diff := cmp.Diff(want, *sc); diff != "" {
		t.Errorf("defaults differ (-want +got):\n%s", diff)
	}
}

func TestParseJSON(t *testing.T) {
	src := `{"name": "j", "duration": "2h", "token": {"ttl": "1h", "rotate": true},
	"server": {"faults": [{"from": "1h", "to": "1h1m", "kind": "status", "status": 503, "retry_after": "30s"}]},
	"workload": [{"kind": "burst", "at": "1h", "count": 5}], "fleet": {"sessions": 3},
	"expect": {"final_state": "valid", "never_states": ["revoked"], "max_recovery": "2m"}}`
	sc, err := Parse("j.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f := sc.Server.Faults[0]
	if f.Status != 503 || f.RetryAfter != 30*time.Second || f.To != time.Hour+time.Minute || !sc.Token.Rotate {
		t.Errorf("fault parsed as %+v", f)
	}
	if w := sc.Workload[0]; w.Kind != WorkBurst || w.Count != 5 || w.At != time.Hour {
		t.Errorf("workload parsed as %+v", w)
	}
	if *sc.Expect.MaxRecovery != 2*time.Minute || *sc.Expect.FinalState != "valid" || sc.Fleet.Sessions != 3 {
		t.Errorf("expect/fleet parsed as %+v %+v", sc.Expect, sc.Fleet)
	}
}

// TestParseFamilies reads every key of token families, and their defaults.
func TestParseFamilies(t *testing.T) {
	sc, err := Parse("f.yaml", []byte(`name: f
duration: 3h
token: {ttl: 1h, rotate: true, reuse_detection: true, reuse_grace: 1m}
session: {fallback: true}
fleet: {sessions: 40, families: 10}
share: {kind: store, lease: 45s, latency: 2ms}
server:
  faults:
    - {from: 1h, to: 1h2m, kind: crash_holder, restart: 5s}
    - {from: 2h, to: 2h5m, kind: store_down}
expect: {max_family_revocations: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := Scenario{
		Token: Token{TTL: time.Hour, Rotate: true, ReuseDetection: true, ReuseGrace: time.Minute},
		Fleet: Fleet{Sessions: 40, Families: 10},
		Share: Share{Kind: ShareStore, Latency: 2 * time.Millisecond},
		// share.lease gives the session's lease; the grace the session
		// block leaves out is the server's.
		Session: declare.Session{Fallback: true, Lease: 45 * time.Second, ReuseGrace: time.Minute},
		Server: Server{Faults: []Fault{
			{Kind: FaultCrashHolder, From: time.Hour, To: time.Hour + 2*time.Minute, Restart: 5 * time.Second},
			{Kind: FaultStoreDown, From: 2 * time.Hour, To: 2*time.Hour + 5*time.Minute},
		}},
		Expect: Expect{MaxFamilyRevocations: &zero},
	}
	got := Scenario{Token: sc.Token, Fleet: sc.Fleet, Share: sc.Share,
		Session: declare.Session{Fallback: sc.Session.Fallback, Lease: sc.Session.Lease, ReuseGrace: sc.Session.ReuseGrace},
		Server:  Server{Faults: sc.Server.Faults}, Expect: sc.Expect}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Fault{}, "Line")); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	sc, err = Parse("d.yaml", []byte(families+"share: {kind: store}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Share{Kind: ShareStore, Latency: DefaultStoreLatency}); sc.Share != want || sc.Session.Lease != states.DefaultLease {
		t.Errorf("share defaults %+v and lease %v, want %+v and %v", sc.Share, sc.Session.Lease, want, states.DefaultLease)
	}
	back, err := Parse("back.yaml", MarshalYAML(sc))
	if err != nil || back.Share != sc.Share || back.Fleet != sc.Fleet || back.Session.Lease != sc.Session.Lease {
		t.Errorf("written and read back: %+v %+v, %v\n%s", back.Share, back.Fleet, err, MarshalYAML(sc))
	}
}

// TestParseFamilySettings: the session block's family settings, and what
// a scenario gives them when the block leaves them out: the lease of
// share.lease, the reuse grace of the simulated server.
func TestParseFamilySettings(t *testing.T) {
	const server = "name: g\nduration: 2h\ntoken: {ttl: 1h, rotate: true, reuse_grace: 1m}\nfleet: {sessions: 4, families: 2}\n"
	for _, tc := range []struct {
		name, src string
		lease     time.Duration
		grace     time.Duration
		solo      bool
	}{
		{"left out", server + "share: {kind: store}\n", states.DefaultLease, time.Minute, false},
		{"share.lease", server + "share: {kind: store, lease: 50s}\n", 50 * time.Second, time.Minute, false},
		{"declared", server + "session: {lease: 40s, reuse_grace: 0s, solo_when_store_down: true}\nshare: {kind: store}\n",
			40 * time.Second, 0, true},
		{"a grace the server does not have", server + "session: {reuse_grace: 2m}\nshare: {kind: store}\n", states.DefaultLease, 2 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := Parse("f.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if s := sc.Session; s.Lease != tc.lease || s.ReuseGrace != tc.grace || s.SoloWhenStoreDown != tc.solo || sc.Token.ReuseGrace != time.Minute {
				t.Errorf("lease %v, reuse grace %v (server's %v), solo %t; want %v, %v, %t", s.Lease, s.ReuseGrace, sc.Token.ReuseGrace, s.SoloWhenStoreDown, tc.lease, tc.grace, tc.solo)
			}
			back, err := Parse("back.yaml", MarshalYAML(sc))
			if err != nil || back.Session != sc.Session {
				t.Errorf("written and read back: %+v, %v", back.Session, err)
			}
		})
	}
}

// TestParseThrottle reads session.throttle: settings left out take the
// defaults of policy, and kind none is the zero value, as when the key is
// left out.
func TestParseThrottle(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want policy.ThrottleSpec
	}{
		{"session: {throttle: {kind: adaptive, k: 3, window: 5m, probe: 10s}}\n",
			policy.ThrottleSpec{Kind: "adaptive", K: 3, Window: 5 * time.Minute, Probe: 10 * time.Second}},
		{"session: {throttle: {kind: adaptive}}\n",
			policy.ThrottleSpec{Kind: "adaptive", K: policy.DefaultThrottleK, Window: policy.DefaultThrottleWindow, Probe: policy.DefaultThrottleProbe}},
		{"session: {throttle: {kind: none}}\n", policy.ThrottleSpec{}},
		{"session: {throttle: {}}\n", policy.ThrottleSpec{}},
		{"", policy.ThrottleSpec{}},
	} {
		sc, err := Parse("t.yaml", []byte(minimal+tc.src))
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if sc.Session.Throttle != tc.want {
			t.Errorf("%q: throttle %+v, want %+v", tc.src, sc.Session.Throttle, tc.want)
		}
		back, err := Parse("back.yaml", MarshalYAML(sc))
		if err != nil || back.Session.Throttle != sc.Session.Throttle {
			t.Errorf("%q: written and read back: %+v, %v\n%s", tc.src, back.Session.Throttle, err, MarshalYAML(sc))
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		kind      error
		line      int
		msg       string // a substring of the error
	}{
		{"unknown top key", minimal + "sesion: {}\n", ErrUnknownKey, 4, `sesion: unknown key`},
		{"login without at", minimal + "workload:\n  - {kind: login}\n", ErrMissing, 5, "workload[0].at: a login needs at:"},
		{"login with count", minimal + "workload:\n  - {kind: login, at: 10m, count: 3}\n", ErrInvalid, 5, "a login takes at: only"},
		{"login of families sharing nothing", families + "workload:\n  - {kind: login, at: 10m}\n", ErrInvalid, 6,
			"a login of a token family needs share: {kind: store}"},
		{"unknown login mode", minimal + "fleet: {login: inside}\n", ErrInvalid, 4, "fleet.login: want none or outside"},
		{"unknown nested key", minimal + "session:\n  policy:\n    kinds: none\n", ErrUnknownKey, 6, "session.policy.kinds"},
		{"missing name", "duration: 1h\ntoken: {ttl: 1m}\n", ErrMissing, 1, "name: required"},
		{"missing ttl", "name: x\nduration: 1h\ntoken: {}\n", ErrMissing, 3, "token.ttl"},
		{"bad duration", "name: x\nduration: 90\ntoken: {ttl: 1m}\n", ErrInvalid, 2, "not a Go duration"},
		{"negative duration", "name: x\nduration: -1h\ntoken: {ttl: 1m}\n", ErrInvalid, 2, "out of range"},
		{"bad name", "name: a b\nduration: 1h\ntoken: {ttl: 1m}\n", ErrInvalid, 1, "letters, digits"},
		{"duplicate key", minimal + "name: y\n", ErrInvalid, 4, "given twice"},
		{"syntax", "name: [x\n", ErrSyntax, 1, "expected"},
		{"not a mapping", "- a\n", ErrInvalid, 1, "want a mapping"},
		{"empty", "", ErrMissing, 0, "empty"},
		{"second document", minimal + "---\nname: y\n", ErrInvalid, 4, "a second YAML document"},
		{"invalid second document", minimal + "---\nsesion: [\n", ErrSyntax, 5, "a second YAML document, and not valid YAML"},
		{"empty second document", minimal + "---\n", ErrInvalid, 4, "a second YAML document"},
		{"too large", minimal + "description: " + strings.Repeat("x", MaxFileSize) + "\n", ErrInvalid, 0, "larger than 1 MiB"},
		{"bad fault kind", minimal + "server: {faults: [{from: 1m, to: 2m, kind: boom}]}\n", ErrInvalid, 4, "unknown fault kind"},
		{"window reversed", minimal + "server:\n  faults:\n    - {from: 2m, to: 1m, kind: hang}\n", ErrInvalid, 6, "before it starts"},
		{"window after end", minimal + "server:\n  faults:\n    - {from: 2h, to: 3h, kind: hang}\n", ErrInvalid, 6, "not before the end"},
		{"status without status", minimal + "server: {faults: [{from: 1m, to: 2m, kind: status}]}\n", ErrMissing, 4, "needs a status"},
		{"status 200", minimal + "server: {faults: [{from: 1m, to: 2m, kind: status, status: 200}]}\n", ErrInvalid, 4, "not a failure status"},
		{"status on hang", minimal + "server: {faults: [{from: 1m, to: 2m, kind: hang, status: 502}]}\n", ErrInvalid, 4, "kind status only"},
		{"revoke window", minimal + "server: {faults: [{from: 1m, to: 2m, kind: revoke}]}\n", ErrMissing, 4, "give at:"},
		{"at and from", minimal + "server: {faults: [{at: 1m, from: 1m, kind: hang}]}\n", ErrInvalid, 4, "not both"},
		{"bad jitter", minimal + "session: {policy: {jitter: some}}\n", ErrInvalid, 4, "jitter"},
		{"bad policy kind", minimal + "session: {policy: {kind: linear}}\n", ErrInvalid, 4, "unknown kind"},
		{"bad multiplier", minimal + "session: {policy: {multiplier: 0.5}}\n", ErrInvalid, 4, "multiplier"},
		{"multiplier on constant", minimal + "session:\n  policy: {kind: constant, initial: 1s, multiplier: 2}\n", ErrInvalid, 5, "session.policy: multiplier does not apply to a constant policy"},
		{"max on constant", minimal + "session:\n  policy: {kind: constant, max: 1m}\n", ErrInvalid, 5, "session.policy: max does not apply"},
		{"jitter on none", minimal + "session:\n  policy: {kind: none, jitter: full}\n", ErrInvalid, 5, "session.policy: jitter does not apply to policy none"},
		{"bad bool", "name: x\nduration: 1h\ntoken: {ttl: 1m, rotate: yes}\n", ErrInvalid, 3, "true or false"},
		{"bad state", minimal + "expect: {final_state: fine}\n", ErrInvalid, 4, "not a state"},
		{"bad never state", minimal + "expect: {never_states: [valid, gone]}\n", ErrInvalid, 4, "not a state"},
		{"requests without every", minimal + "workload: [{kind: requests}]\n", ErrMissing, 4, "every"},
		{"burst without count", minimal + "workload: [{kind: burst, at: 1m}]\n", ErrMissing, 4, "at: and count:"},
		{"unknown workload", minimal + "workload: [{kind: trickle}]\n", ErrInvalid, 4, "unknown workload kind"},
		{"zero sessions", minimal + "fleet: {sessions: 0}\n", ErrInvalid, 4, "out of range"},
		{"spread too long", minimal + "fleet:\n  sessions: 2\n  start_spread: 2h\n", ErrInvalid, 6, "not shorter"},
		{"grace without rotation", "name: x\nduration: 1h\ntoken:\n  ttl: 10m\n  reuse_grace: 1s\n", ErrInvalid, 5, "rotate: true"},
		{"error through an alias", "name: x\nduration: &d 1h\ntoken: {ttl: 10m}\nfleet: {sessions: *d}\n", ErrInvalid, 4, "not an integer"},
		{"description with status 404 and no error", minimal + "server:\n  faults:\n    - from: 1m\n      to: 2m\n      kind: status\n      status: 404\n      description: gone\n", ErrInvalid, 10, "server.faults[0].description: needs an OAuth2 error body"},
		{"description with status 503 and no error", minimal + "server: {faults: [{from: 1m, to: 2m, kind: status, status: 503, description: busy}]}\n", ErrInvalid, 4, "proxy's page"},
		{"description on a hang", minimal + "server: {faults: [{from: 1m, to: 2m, kind: hang, description: busy}]}\n", ErrInvalid, 4, "apply to kind status only"},
		{"description with a control character", minimal + "server: {faults: [{from: 1m, to: 2m, kind: status, status: 400, description: \"a\\nb\"}]}\n", ErrInvalid, 4, "control character"},
		{"description too long", minimal + "server: {faults: [{from: 1m, to: 2m, kind: status, status: 400, description: " + strings.Repeat("x", 401) + "}]}\n", ErrInvalid, 4, "at most 400 characters"},
		{"quoted number", minimal + "fleet: {sessions: \"3\"}\n", ErrInvalid, 4, "not an integer"},
		{"list for scalar", minimal + "clock_skew: [1s]\n", ErrInvalid, 4, "want a single value"},
		{"share without families", minimal + "fleet: {sessions: 4}\nshare: {kind: store}\n", ErrInvalid, 5, "share: applies only with fleet.families"},
		{"share none without families", minimal + "share: {kind: none}\n", ErrInvalid, 4, "applies only with fleet.families"},
		{"more families than sessions", minimal + "fleet:\n  sessions: 2\n  families: 3\n", ErrInvalid, 6, "3 families for 2 sessions"},
		{"negative families", minimal + "fleet: {sessions: 2, families: -1}\n", ErrInvalid, 4, "out of range"},
		{"unknown share key", families + "share: {kind: store, leese: 30s}\n", ErrUnknownKey, 5, "share.leese: unknown key"},
		{"share without kind", families + "share: {lease: 30s}\n", ErrMissing, 5, "share.kind: required"},
		{"unknown share kind", families + "share:\n  kind: redis\n", ErrInvalid, 6, `unknown share kind "redis"`},
		{"lease zero", families + "share:\n  kind: store\n  lease: 0s\n", ErrInvalid, 7, "share.lease: 0s is not positive"},
		{"lease negative", families + "share:\n  kind: store\n  lease: -5s\n", ErrInvalid, 7, "out of range"},
		{"lease shorter than a refresh", families + "share:\n  kind: store\n  lease: 10s\n", ErrInvalid, 7, "10s does not outlast one refresh (request_timeout 10s plus two store round trips of 1ms)"},
		{"default lease shorter than the timeout", families + "session: {request_timeout: 40s}\nshare: {kind: store}\n", ErrInvalid, 6, "share.lease: 30s does not outlast"},
		{"lease on kind none", families + "share: {kind: none, lease: 30s}\n", ErrInvalid, 5, "apply to kind store only"},
		{"lease given twice", families + "session: {lease: 45s}\nshare: {kind: store, lease: 45s}\n", ErrInvalid, 5,
			"session.lease: given twice: share.lease gives the lease too"},
		{"session lease shorter than a refresh", families + "session:\n  request_timeout: 20s\n  lease: 20s\nshare: {kind: store}\n", ErrInvalid, 7,
			"session.lease: 20s does not outlast one refresh request"},
		{"session lease shorter than a refresh with the store", families + "session:\n  request_timeout: 20s\n  lease: 20001ms\nshare: {kind: store}\n", ErrInvalid, 7,
			"session.lease: 20.001s does not outlast one refresh (request_timeout 20s plus two store round trips of 1ms)"},
		{"latency on kind none", families + "share: {kind: none, latency: 1ms}\n", ErrInvalid, 5, "apply to kind store only"},
		{"crash_holder without restart", minimal + "server:\n  faults:\n    - {from: 1m, to: 2m, kind: crash_holder}\n", ErrMissing, 6, "server.faults[0].restart: a crash_holder fault needs restart:"},
		{"restart on hang", minimal + "server:\n  faults:\n    - from: 1m\n      to: 2m\n      kind: hang\n      restart: 5s\n", ErrInvalid, 9, "restart: applies to kind crash_holder only"},
		{"restart zero", minimal + "server: {faults: [{from: 1m, to: 2m, kind: crash_holder, restart: 0s}]}\n", ErrInvalid, 4, "out of range"},
		{"store_down without a store", minimal + "server:\n  faults:\n    - {from: 1m, to: 2m, kind: store_down}\n", ErrInvalid, 6, "server.faults[0]: a store_down fault needs share: {kind: store}"},
		{"store_down sharing nothing", families + "share: {kind: none}\nserver:\n  faults:\n    - {from: 1m, to: 2m, kind: store_down}\n", ErrInvalid, 8, "needs share: {kind: store}"},
		{"reuse detection without rotation", "name: x\nduration: 1h\ntoken:\n  ttl: 10m\n  reuse_detection: true\n", ErrInvalid, 5, "token.reuse_detection: applies only with rotate: true"},
		{"bad fallback", minimal + "session: {fallback: maybe}\n", ErrInvalid, 4, "true or false"},
		{"negative family revocations", minimal + "expect: {max_family_revocations: -1}\n", ErrInvalid, 4, "out of range"},
		{"unknown throttle kind", minimal + "session:\n  throttle: {kind: sre}\n", ErrInvalid, 5, `session.throttle.kind: unknown kind "sre" (want none or adaptive)`},
		{"throttle setting on kind none", minimal + "session:\n  throttle:\n    kind: none\n    probe: 30s\n", ErrInvalid, 7, "session.throttle.probe: does not apply to kind none"},
		{"throttle setting without kind", minimal + "session:\n  throttle:\n    window: 2m\n", ErrInvalid, 6, "session.throttle.window: does not apply to kind none"},
		{"throttle k below 1", minimal + "session:\n  throttle: {kind: adaptive, k: 0.5}\n", ErrInvalid, 5, "session.throttle.k"},
		{"throttle window too short", minimal + "session:\n  throttle:\n    kind: adaptive\n    window: 10ms\n", ErrInvalid, 7, "session.throttle.window: 10ms is out of range"},
		{"throttle probe zero", minimal + "session:\n  throttle:\n    kind: adaptive\n    probe: 0s\n", ErrInvalid, 7, "session.throttle.probe: 0s is out of range"},
		{"unknown throttle key", minimal + "session:\n  throttle:\n    kind: adaptive\n    burst: 5\n", ErrUnknownKey, 7, "session.throttle.burst: unknown key"},
		{"throttle not a mapping", minimal + "session: {throttle: adaptive}\n", ErrInvalid, 4, "want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tc.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *sim.Error", err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if e.Line != tc.line {
				t.Errorf("error %q: line %d, want %d", err, e.Line, tc.line)
			}
			if !strings.HasPrefix(err.Error(), "sim: s.yaml") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not name the file or lacks %q", err, tc.msg)
			}
		})
	}
}

// TestLoadRefusesLargeFiles: Load reads no further than the limit and
// names the file.
func TestLoadRefusesLargeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(minimal+"description: "+strings.Repeat("x", 2*MaxFileSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path+": larger than 1 MiB") {
		t.Errorf("got %v", err)
	}
}

// FuzzParse feeds arbitrary bytes to the parser: it must return a scenario
// or an *Error, never panic, and every scenario it accepts must run.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "server: {faults: [{at: 1m, kind: revoke}, {from: 1m, to: 2m, kind: status, status: 429, retry_after: 1s}]}\n"))
	f.Add([]byte(minimal + "workload: [{kind: requests, every: 1m}, {kind: burst, at: 5m, count: 3}]\nfleet: {sessions: 2, start_spread: 1m}\n"))
	f.Add([]byte("a: &x {b: *x}"))
	f.Add([]byte("name: x\nduration: 1h\ntoken: {ttl: 10m, rotate: true, reuse_detection: true}\nfleet: {sessions: 4, families: 2}\n" +
		"session: {fallback: true}\nshare: {kind: store, lease: 20s}\n" +
		"server: {faults: [{from: 5m, to: 6m, kind: crash_holder, restart: 5s}, {from: 7m, to: 8m, kind: store_down}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *sim.Error", err)
			}
			return
		}
		if Estimate(sc) > 100_000 {
			return // valid, but too big to run inside a fuzz iteration
		}
		Run(sc, Options{})
	})
}
