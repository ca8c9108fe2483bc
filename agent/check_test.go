package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/internal/redistest"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/sim"
)

// TestCheckRedisStore: for a refresh_token profile whose store is a Redis
// family, Check reads the family: empty and no seed is refused, as New
// refuses it; once another agent published a pair, the profile needs no
// seed. A wrong password is reported without being repeated. Skipped
// without redis-server unless AUTHFSM_REQUIRE_REDIS=1.
func TestCheckRedisStore(t *testing.T) {
	const password = "redis-pw-Zq9"
	srv := redistest.Start(t, "--requirepass", password)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wrong-pw"), []byte("x"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(filepath.Join(dir, "agent.yaml"), []byte(`listen: 127.0.0.1:0
profiles:
  api:
    token_url: https://auth.example/token
    store: {redis: {addr: "`+srv.Addr+`", key: "authfsm:test:{check}", password_file: pw}}
  wrong:
    token_url: https://auth.example/token
    store: {redis: {addr: "`+srv.Addr+`", key: "authfsm:test:{check}", password_file: wrong-pw}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := Errors(Check(ctx, cfg, Options{}))
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "profile api: the store redis "+srv.Addr+" key authfsm:test:{check} holds no token pair") ||
		!strings.Contains(errs[1].Error(), "profile wrong: reading the store") || !strings.Contains(errs[1].Error(), "AUTH") ||
		strings.Contains(errs[1].Error(), password) {
		t.Fatalf("Check of an empty family: %v", errs)
	}

	client, err := rediscore.NewClient(rediscore.Options{Addr: srv.Addr, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := rediscore.New(client, "authfsm:test:{check}")
	if _, ok, err := c.Acquire(ctx, "other-agent", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := c.Publish(ctx, "other-agent", 0, session.Token{Access: "a", Refresh: "r", Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg.Profiles = cfg.Profiles[:1]
	if err := Check(ctx, cfg, Options{}); err != nil {
		t.Errorf("Check once the family holds a pair: %v", err)
	}
}

// TestSessionOptionsPolicyError: a policy the runtime cannot build is
// named once ("session.policy: max …", not "session.policy: policy: …"),
// and the policy's error stays in the chain.
func TestSessionOptionsPolicyError(t *testing.T) {
	s := sim.Session{Policy: policy.Spec{Kind: "constant", Initial: time.Second, Max: time.Minute}}
	_, err := SessionOptions(s)
	want := "agent: session.policy: max does not apply to a constant policy"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("SessionOptions: %v, want %q…", err, want)
	}
	if _, berr := s.Policy.Build(); !strings.HasSuffix(err.Error(), strings.TrimPrefix(berr.Error(), "policy: ")) || errors.Unwrap(err) == nil {
		t.Errorf("SessionOptions: %v does not wrap the policy's error %v", err, berr)
	}
}
