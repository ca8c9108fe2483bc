package nginx

import (
	"errors"
	"os"
	"testing"
)

// Start launches nginx for cfg in a fresh temporary directory and stops it
// when the test ends. Where nginx is not installed the test is skipped with
// the command that installs it — unless $AUTHFSM_REQUIRE_NGINX is set, as
// in CI, where it fails instead.
func Start(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	if _, err := Binary(); errors.Is(err, ErrNotInstalled) {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%v, and %s is set", err, RequireEnv)
		}
		t.Skipf("skipping: %v", err)
	}
	// Not t.TempDir: its name derives from the test name, which may hold
	// characters that nginx.conf cannot take unquoted.
	dir, err := os.MkdirTemp("", "authfsm-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p, err := Launch(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", p.Stderr())
		}
	})
	return p
}
