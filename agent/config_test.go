package agent

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session/oauth"
)

const fullConfig = `listen: 127.0.0.1:8180
audit: {path: /var/log/authfsm/audit.jsonl, key_file: audit.key}
shutdown_timeout: 20s
log_level: debug
profiles:
  platform:
    issuer: https://auth.example
    client_id: billing
    private_key_jwt: {key_file: keys/client.pem, key_id: k1}
    grant: client_credentials
    scopes: [billing.read]
    params: {audience: https://api.example, resource: [a, b]}
    session:
      refresh_ahead: 2m
      request_timeout: 5s
      wait_for_refresh: 30s
      policy: {kind: exponential, initial: 1s, max: 30s, jitter: full}
      throttle: {kind: adaptive}
    store: {path: /var/lib/authfsm/platform.json, coordinator: file}
    proxy:
      listen: unix:/run/authfsm/platform.sock
      upstream: https://api.example/v2
      max_idle_conns: 32
  legacy:
    token_url: http://127.0.0.1:9000/token
    client_id: legacy
    client_secret_env: LEGACY_SECRET
    auth_style: body
    refresh_token_file: /run/secrets/legacy-refresh
    session: {fallback: true}
    store: {path: legacy.json}
  shared:
    token_url: https://auth.example/token
    refresh_token_env: SHARED_REFRESH
    store:
      redis: {addr: redis.internal:6380, key: "authfsm:family:{shared}", db: 2, username: agent, password_file: redis-pw, ca_file: ca.pem}
  local:
    token_url: https://auth.example/token
    store: {redis: {addr: unix:run/redis.sock, key: "authfsm:family:{local}", password_env: REDIS_PW}}
  plain:
    token_url: https://auth.example/token
    store: {redis: {addr: redis.internal:6379, key: k, allow_plaintext: true}}
`

func TestParseConfig(t *testing.T) {
	c, err := Parse("/etc/authfsm/agent.yaml", []byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	def := declare.Default()
	plat := def
	plat.RefreshAhead, plat.RequestTimeout, plat.WaitForRefresh = 2*time.Minute, 5*time.Second, 30*time.Second
	plat.Policy = policy.Spec{Kind: "exponential", Initial: time.Second, Multiplier: 2, Max: 30 * time.Second, Jitter: policy.FullJitter}
	plat.Throttle = policy.ThrottleSpec{Kind: "adaptive", K: policy.DefaultThrottleK, Window: policy.DefaultThrottleWindow, Probe: policy.DefaultThrottleProbe} // defaults filled in, as a scenario's
	legacy := def
	legacy.Fallback = true
	up, _ := url.Parse("https://api.example/v2")
	want := &Config{
		File:            "/etc/authfsm/agent.yaml",
		Listen:          &Listen{Network: "tcp", Address: "127.0.0.1:8180"},
		Audit:           &Audit{Path: "/var/log/authfsm/audit.jsonl", KeyFile: "/etc/authfsm/audit.key"},
		ShutdownTimeout: 20 * time.Second,
		LogLevel:        -4,
		Profiles: []*Profile{{
			Name: "platform", Issuer: "https://auth.example", ClientID: "billing",
			PrivateKeyJWT: &PrivateKeyJWT{KeyFile: "/etc/authfsm/keys/client.pem", KeyID: "k1"},
			Grant:         oauth.GrantClientCredentials, Scopes: []string{"billing.read"},
			Params:  url.Values{"audience": {"https://api.example"}, "resource": {"a", "b"}},
			Session: plat,
			Store:   &Store{Path: "/var/lib/authfsm/platform.json", Coordinator: "file"},
			Proxy:   &Proxy{Listen: Listen{Network: "unix", Address: "/run/authfsm/platform.sock"}, Upstream: up, MaxReplayBody: DefaultMaxReplayBody, MaxIdleConns: 32},
		}, {
			Name: "legacy", TokenURL: "http://127.0.0.1:9000/token", ClientID: "legacy", ClientSecretEnv: "LEGACY_SECRET",
			AuthStyle: oauth.AuthBody, Grant: oauth.GrantRefreshToken, RefreshTokenFile: "/run/secrets/legacy-refresh",
			Session: legacy, Store: &Store{Path: "/etc/authfsm/legacy.json"},
		}, {
			Name: "shared", TokenURL: "https://auth.example/token", Grant: oauth.GrantRefreshToken, RefreshTokenEnv: "SHARED_REFRESH",
			Session: def,
			Store: &Store{Redis: &RedisStore{Addr: "redis.internal:6380", Key: "authfsm:family:{shared}", DB: 2, Username: "agent",
				PasswordFile: "/etc/authfsm/redis-pw", TLS: true, CAFile: "/etc/authfsm/ca.pem"}},
		}, {
			Name: "local", TokenURL: "https://auth.example/token", Grant: oauth.GrantRefreshToken, Session: def,
			Store: &Store{Redis: &RedisStore{Addr: "unix:/etc/authfsm/run/redis.sock", Key: "authfsm:family:{local}", PasswordEnv: "REDIS_PW"}},
		}, {
			Name: "plain", TokenURL: "https://auth.example/token", Grant: oauth.GrantRefreshToken, Session: def,
			Store: &Store{Redis: &RedisStore{Addr: "redis.internal:6379", Key: "k", AllowPlaintext: true}},
		}},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config differs (-want +got):\n%s", diff)
	}
	if p, err := c.Profile("legacy"); err != nil || p.Name != "legacy" {
		t.Errorf("Profile(legacy): %v, %v", p, err)
	}
	if _, err := c.Profile(""); err == nil || !strings.Contains(err.Error(), "has 5 profiles (platform, legacy, shared, local, plain): name one") {
		t.Errorf("Profile(\"\"): %v", err)
	}
}

// secret stands for a secret written where it does not belong; no error
// may quote it.
const secret = "hunter2-SECRET-4f1c"

func TestParseConfigErrors(t *testing.T) {
	const head = "listen: 127.0.0.1:8180\nprofiles:\n  api:\n    token_url: https://auth.example/token\n"
	for _, tc := range []struct {
		name, src, err string
	}{
		{"inline client secret", head + "    client_secret: " + secret + "\n    grant: client_credentials\n    client_id: c\n",
			"agent.yaml:5: profiles.api.client_secret: an inline secret is refused: the configuration file is no place for one; use client_secret_file or client_secret_env"},
		{"inline refresh token", head + "    refresh_token: " + secret + "\n", "profiles.api.refresh_token: an inline secret is refused"},
		{"inline audit key", "audit: {path: a.log, key: " + secret + "}\n", "audit.key: an inline secret is refused"},
		{"credential in params", head + "    params: {client_assertion: " + secret + "}\n", "profiles.api.params.client_assertion: refused"},
		{"secret in a mistyped key", head + "    client_secert: " + secret + "\n", "profiles.api.client_secert: unknown key"},
		{"secret as a list", head + "    client_id: [" + secret + "]\n", "profiles.api.client_id: want a single value, got a list"},
		{"secret in the session block", head + "    session: {request_timeout: " + secret + "}\n", "profiles.api.session.request_timeout: the value is not a Go duration"},
		{"secret in the session's policy", head + "    session: {policy: {kind: " + secret + "}}\n", "profiles.api.session.policy"},
		{"secret in a URL", "listen: 127.0.0.1:8180\nprofiles:\n  api:\n    token_url: https://u:" + secret + "@auth.example/\n    store: {path: t}\n",
			"profiles.api.token_url: a URL with user information is refused"},
		{"secret as listen", "listen: " + secret + "\nprofiles: {}\n", "listen: want host:port on loopback"},
		{"not loopback", "listen: 0.0.0.0:8180\n", "listen: the agent listens on loopback only"},
		{"plain HTTP upstream", head + "    store: {path: t}\n    proxy: {listen: 127.0.0.1:9, upstream: http://api.example}\n", "proxy.upstream: plain HTTP to another host"},
		{"no idle connections", head + "    store: {path: t}\n    proxy: {listen: 127.0.0.1:9, upstream: https://api.example, max_idle_conns: 0}\n", "profiles.api.proxy.max_idle_conns: want a number of connections from 1 to 10000"},
		{"token_url and issuer", head + "    issuer: https://auth.example\n", "profiles.api.token_url: give token_url or issuer"},
		{"two authentications", head + "    client_id: c\n    client_secret_file: s\n    assertion_file: a\n", "profiles.api.assertion_file: client_secret_file authenticates the client already"},
		{"refresh_token without store", head, "profiles.api.store: required by the refresh_token grant"},
		{"fallback without authentication", head + "    store: {path: t}\n    session: {fallback: true}\n", "the client_credentials fallback needs the client's authentication"},
		{"token exchange without subject", head + "    grant: token_exchange\n", "profiles.api.subject_token_file: required by the token_exchange grant"},
		{"unknown grant", head + "    grant: password\n", "profiles.api.grant: want refresh_token, client_credentials or token_exchange"},
		{"throttle settings", head + "    store: {path: t}\n    session: {throttle: {kind: adaptive, probe: 500us}}\n", "profiles.api.session.throttle.probe"},
		{"no profiles", "listen: 127.0.0.1:8180\n", "profiles: required"},
		{"nothing served", "profiles:\n  api:\n    token_url: https://a.example/t\n    store: {path: t}\n", "listen: nothing to serve"},
		{"address twice", head + "    store: {path: t}\n    proxy: {listen: 127.0.0.1:8180, upstream: https://api.example}\n", "profiles.api.proxy.listen: listens on 127.0.0.1:8180, as listen does"},
		{"bad profile name", "listen: 127.0.0.1:1\nprofiles:\n  a/b: {}\n", "profiles.a/b: a profile's name"},
		{"syntax", "listen: [\n", "agent.yaml: line"},
		{"store: path and redis", head + "    store: {path: t, redis: {addr: 127.0.0.1:6379, key: k}}\n", "profiles.api.store.path: give path (a file) or redis"},
		{"store: redis with coordinator", head + "    store: {coordinator: file, redis: {addr: 127.0.0.1:6379, key: k}}\n", "profiles.api.store.coordinator: applies to a file store"},
		{"store: neither", head + "    store: {coordinator: file}\n", "profiles.api.store.path: required"},
		{"store: coordinator redis", head + "    store: {path: t, coordinator: redis}\n", "profiles.api.store.coordinator: want file or none (to share the family across hosts, give redis"},
		{"redis: inline password", head + "    store: {redis: {addr: 127.0.0.1:6379, key: k, password: " + secret + "}}\n", "profiles.api.store.redis.password: an inline secret is refused"},
		{"redis: a URL with the password", head + "    store: {redis: {addr: \"redis://u:" + secret + "@r.example:6379\", key: k}}\n", "profiles.api.store.redis.addr: want host:port"},
		{"redis: the secret as addr", head + "    store: {redis: {addr: " + secret + ", key: k}}\n", "profiles.api.store.redis.addr: want host:port"},
		{"redis: the password as its variable", head + "    store: {redis: {addr: 127.0.0.1:6379, key: k, password_env: " + secret + "-x}}\n", "profiles.api.store.redis.password_env: want the name of an environment variable"},
		{"redis: no addr", head + "    store: {redis: {key: k}}\n", "profiles.api.store.redis.addr: required"},
		{"redis: no key", head + "    store: {redis: {addr: 127.0.0.1:6379}}\n", "profiles.api.store.redis.key: required"},
		{"redis: bad port", head + "    store: {redis: {addr: \"127.0.0.1:0\", key: k}}\n", "profiles.api.store.redis.addr: the port"},
		{"redis: bad db", head + "    store: {redis: {addr: 127.0.0.1:6379, key: k, db: -1}}\n", "profiles.api.store.redis.db: want a database number"},
		{"redis: two passwords", head + "    store: {redis: {addr: 127.0.0.1:6379, key: k, password_file: p, password_env: P}}\n", "profiles.api.store.redis.password_env: give password_file or password_env, not both"},
		{"redis: username alone", head + "    store: {redis: {addr: 127.0.0.1:6379, key: k, username: u}}\n", "profiles.api.store.redis.username: applies with password_file or password_env"},
		{"redis: ca_file without TLS", head + "    store: {redis: {addr: r.example:6379, key: k, tls: false, ca_file: ca.pem}}\n", "profiles.api.store.redis.ca_file: applies with TLS"},
		{"redis: plaintext across the network", head + "    store: {redis: {addr: r.example:6379, key: k}}\n", "profiles.api.store.redis.addr: without TLS the token pair would cross the network in clear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the secret: %v", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T, want a *ConfigError", err)
			}
		})
	}
}

func TestParseListen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Listen
		err  string
	}{
		{"127.0.0.1:8180", Listen{"tcp", "127.0.0.1:8180"}, ""},
		{"[::1]:8180", Listen{"tcp", "[::1]:8180"}, ""},
		{"localhost:1", Listen{"tcp", "localhost:1"}, ""},
		{"unix:/run/a.sock", Listen{"unix", "/run/a.sock"}, ""},
		{"10.0.0.1:8180", Listen{}, "loopback only"},
		{"8180", Listen{}, "want host:port"},
		{"unix:", Listen{}, "needs the socket's path"},
	} {
		got, err := ParseListen(tc.in)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) || got != tc.want {
			t.Errorf("ParseListen(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestReadmeConfig keeps README.md's agent configuration valid.
func TestReadmeConfig(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n# agent.yaml")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no agent.yaml block")
	}
	c, err := Parse("/etc/authfsm/agent.yaml", []byte("# agent.yaml"+block))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Profiles[0]; p.Name != "billing" || p.Proxy == nil || p.Session.WaitForRefresh != 10*time.Second || c.Audit.KeyFile != "/etc/authfsm/audit.key" {
		t.Errorf("parsed as %+v", p)
	}
}

// TestParseConfigReportsEachPart: a problem in one top-level key or
// profile does not hide another's; each is a *ConfigError, in the file's
// order, and the keys that relate parts (nothing served, an address taken
// twice) are checked only once every part reads.
func TestParseConfigReportsEachPart(t *testing.T) {
	src := `shutdown_timeout: forever
log_level: loud
profiles:
  a:
    token_url: https://auth.example/token
    client_secret: ` + secret + `
    also_unknown: 1
  b:
    token_url: https://auth.example/token
    store: {path: b.json}
  c/d: {}
  e:
    issuer: http://auth.example
`
	_, err := Parse("agent.yaml", []byte(src))
	errs := Errors(err)
	want := []string{
		"agent.yaml:1: shutdown_timeout: the value is not a Go duration",
		"agent.yaml:2: log_level: want debug, info, warn or error",
		"agent.yaml:6: profiles.a.client_secret: an inline secret is refused",
		"agent.yaml:11: profiles.c/d: a profile's name",
		"agent.yaml:13: profiles.e.store: required by the refresh_token grant",
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		var ce *ConfigError
		if !errors.As(errs[i], &ce) || !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d: %v, want a *ConfigError containing %q", i, errs[i], w)
		}
	}
	if strings.Contains(err.Error(), secret) {
		t.Error("an error quotes the secret")
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "shutdown_timeout" {
		t.Errorf("errors.As finds %v, want the first problem", ce)
	}
}
