package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverLeak runs an agent whose token endpoints echo the
// client's credentials into their error pages, and checks that neither
// those nor the tokens reach its log, its audit log, its health, metrics
// or error answers: only /v1/token's answer carries the access token.
func TestSecretsNeverLeak(t *testing.T) {
	const clientSecret = "cl13nt-S3CRET-77aa"
	cred := basic("cli", clientSecret)
	echo := func(w http.ResponseWriter) {
		w.Header().Set("WWW-Authenticate", "Basic realm="+clientSecret)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>bad gateway; you sent client_secret=%s, Basic %s</html>", clientSecret, cred)
	}
	flaky := newTokenServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			echo(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"acc-T0PSECRET-%d","refresh_token":"ref-T0PSECRET-%d","expires_in":3600,"error_description":"%s"}`, n, n, clientSecret)
	})
	down := newTokenServer(t, func(_ int, w http.ResponseWriter) { echo(w) })
	dir := shortDir(t)
	writeSecret(t, dir, clientSecret)
	os.WriteFile(filepath.Join(dir, "audit.key"), []byte("k"), 0o600)
	profile := func(name, url, session string) string {
		return fmt.Sprintf(`  %s:
    token_url: %s
    client_id: cli
    client_secret_file: secret
    grant: client_credentials
    session: %s
`, name, url, session)
	}
	e := startAgent(t, dir, flaky, "listen: unix:{{dir}}/api.sock\naudit: {path: audit.jsonl, key_file: audit.key}\nprofiles:\n"+
		profile("flaky", "{{token_url}}", "{wait_for_refresh: 10s, policy: {kind: constant, initial: 10ms, jitter: none}}")+
		profile("down", down.URL, "{policy: {kind: constant, initial: 1h, jitter: none}}"), Options{})
	c := unixClient(filepath.Join(dir, "api.sock"))
	hdr := map[string]string{TokenRequestHeader: "1"}
	var seen []string // every answer but the token's
	code, _, body := get(t, c, "http://localhost/v1/token?profile=flaky", hdr)
	if code != 200 || decode[TokenResponse](t, body).AccessToken != "acc-T0PSECRET-2" {
		t.Fatalf("%d %s", code, body)
	}
	code, _, body = get(t, c, "http://localhost/v1/token?profile=down", hdr)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "502 Bad Gateway") {
		t.Errorf("down: %d %s", code, body)
	}
	seen = append(seen, body)
	for _, path := range []string{"/v1/health?profile=flaky", "/v1/health?profile=down", "/v1/health", "/metrics"} {
		_, _, body := get(t, c, "http://localhost"+path, nil)
		seen = append(seen, body)
	}
	if err := e.a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	auditLog, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if !strings.Contains(e.log.String(), "502 Bad Gateway") || len(auditLog) == 0 {
		t.Fatalf("the failures were not logged:\n%s", e.log)
	}
	seen = append(seen, e.log.String(), string(auditLog))
	for _, s := range seen {
		for _, bad := range []string{clientSecret, cred, "T0PSECRET"} {
			if strings.Contains(s, bad) {
				t.Errorf("%q leaked into:\n%s", bad, s)
			}
		}
	}
}

// TestSecretSourceErrorsQuoteNoValue: a secret written where its file's
// name or its variable's name belongs (a careless config) is never echoed:
// the error names the key and what kind of value it wants.
func TestSecretSourceErrorsQuoteNoValue(t *testing.T) {
	dir := shortDir(t)
	const pasted = "hunter2-S3CRET-4f1c"  // a secret pasted as a file name
	const pastedEnv = "HUNTER2S3CRET4F1C" // one that looks like a variable's name
	empty := filepath.Join(dir, "empty-"+pasted)
	os.WriteFile(empty, nil, 0o600)
	notPEM := filepath.Join(dir, "notpem-"+pasted)
	os.WriteFile(notPEM, []byte("not a key\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "audit-empty-"+pasted), nil, 0o600)
	const head = "listen: unix:api.sock\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: cli\n"
	for _, tc := range []struct {
		name, config, err string
	}{
		{"client_secret_file missing", head + "    grant: client_credentials\n    client_secret_file: " + pasted + "\n",
			"profiles.api.client_secret_file: cannot read the file it names: no such file or directory"},
		{"client_secret_file empty", head + "    grant: client_credentials\n    client_secret_file: " + empty + "\n",
			"profiles.api.client_secret_file: the file it names is empty"},
		{"client_secret_env unset", head + "    grant: client_credentials\n    client_secret_env: " + pastedEnv + "\n",
			"profiles.api.client_secret_env: the environment variable it names is unset or empty"},
		{"refresh_token_file missing", head + "    store: {path: token.json}\n    refresh_token_file: " + pasted + "\n",
			"profiles.api.refresh_token_file: cannot read the file it names: no such file or directory"},
		{"refresh_token_env unset", head + "    store: {path: token.json}\n    refresh_token_env: " + pastedEnv + "\n",
			"profiles.api.refresh_token_env: the environment variable it names is unset or empty"},
		{"key_file missing", head + "    grant: client_credentials\n    private_key_jwt: {key_file: " + pasted + "}\n",
			"profiles.api.private_key_jwt.key_file: cannot read the file it names: no such file or directory"},
		{"key_file not a key", head + "    grant: client_credentials\n    private_key_jwt: {key_file: " + notPEM + "}\n",
			"profiles.api.private_key_jwt.key_file: the file it names is not a usable private key: no PEM block"},
		{"assertion_file missing", head + "    grant: client_credentials\n    assertion_file: " + pasted + "\n",
			"profiles.api.assertion_file: cannot read the file it names: no such file or directory"},
		{"assertion_file empty", head + "    grant: client_credentials\n    assertion_file: " + empty + "\n",
			"profiles.api.assertion_file: the file it names is empty"},
		{"subject_token_file missing", head + "    grant: token_exchange\n    subject_token_file: " + pasted + "\n",
			"profiles.api.subject_token_file: cannot read the file it names: no such file or directory"},
		{"audit key_file missing", "audit: {path: audit.jsonl, key_file: " + pasted + "}\n" + head + "    grant: client_credentials\n    client_secret_env: S\n",
			"audit.key_file: cannot read the file it names: no such file or directory"},
		{"audit key_file empty", "audit: {path: audit.jsonl, key_file: audit-empty-" + pasted + "}\n" + head + "    grant: client_credentials\n    client_secret_env: S\n",
			"audit.key_file: the file it names is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(filepath.Join(dir, "agent.yaml"), []byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(context.Background(), cfg, Options{Getenv: func(k string) string {
				if k == "S" {
					return "x"
				}
				return ""
			}})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(strings.ToLower(err.Error()), "hunter2") {
				t.Errorf("the error quotes the value: %v", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "agent.yaml") {
				t.Errorf("error %T %+v, want a *ConfigError naming the file", err, ce)
			}
		})
	}
}

// TestSecretEnvNames: an _env key holds a variable's name; a value that
// cannot be one (a pasted secret, most likely) is refused when the file is
// parsed, without being quoted.
func TestSecretEnvNames(t *testing.T) {
	const head = "listen: unix:api.sock\nprofiles:\n  api:\n    token_url: https://auth.example/token\n    client_id: cli\n"
	for _, tc := range []struct{ name, config, err string }{
		{"client_secret_env", head + "    grant: client_credentials\n    client_secret_env: s3cr3t/hunter2+=\n",
			"agent.yaml:7: profiles.api.client_secret_env: want the name of an environment variable (letters, digits and '_'), not the secret itself"},
		{"refresh_token_env", head + "    store: {path: t}\n    refresh_token_env: hunter2.eyJhbGciOi\n",
			"agent.yaml:7: profiles.api.refresh_token_env: want the name of an environment variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the value: %v", err)
			}
		})
	}
}

// TestKeyFileModeWarning: a private_key_jwt key file that other users can
// read gets the warning a client secret file gets.
func TestKeyFileModeWarning(t *testing.T) {
	ts := newTokenServer(t, issue)
	dir := shortDir(t)
	key := filepath.Join(dir, "client.pem")
	writeTestKey(t, key)
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	e := startAgent(t, dir, ts, `listen: unix:{{dir}}/api.sock
profiles:
  api:
    token_url: {{token_url}}
    client_id: cli
    grant: client_credentials
    private_key_jwt: {key_file: client.pem}
`, Options{})
	log := e.log.String()
	if !strings.Contains(log, "a secret file is readable by other users") || !strings.Contains(log, "private_key_jwt.key_file") || !strings.Contains(log, `"mode":"-rw-r-----"`) {
		t.Errorf("no warning about the key file's mode:\n%s", log)
	}
}

// writeTestKey writes a fresh P-256 key in PKCS #8 PEM to path (mode 0600).
func writeTestKey(t *testing.T, path string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
