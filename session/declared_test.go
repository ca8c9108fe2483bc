package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// TestDeclared: a declared session's options set what its block says, and
// a block with nothing said sets the runtime's defaults.
func TestDeclared(t *testing.T) {
	d := declare.Default()
	d.RefreshAhead, d.RequestTimeout = time.Minute, 3*time.Second
	d.Policy = policy.Spec{Kind: "constant", Initial: 2 * time.Second, Jitter: policy.NoJitter}
	d.Lease, d.ReuseGrace, d.SoloWhenStoreDown = 45*time.Second, time.Minute, true
	opts, err := Declared(d)
	if err != nil {
		t.Fatal(err)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.refreshAhead != time.Minute || c.timeout != 3*time.Second || c.policy != (policy.Constant{Wait: 2 * time.Second, Jitter: policy.NoJitter}) ||
		c.lease != 45*time.Second || c.reuseGrace != time.Minute || !c.solo {
		t.Errorf("config %+v, policy %#v", c, c.policy)
	}
	var def config
	opts, err = Declared(declare.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(&def)
	}
	if def.refreshAhead != 5*time.Minute || def.timeout != states.DefaultRequestTimeout || def.policy != policy.Default() ||
		def.lease != states.DefaultLease || def.reuseGrace != 0 || def.solo {
		t.Errorf("the defaults declared: %+v", def)
	}
	d.Policy = policy.Spec{Kind: "sometimes"}
	if _, err := Declared(d); err == nil || !strings.HasPrefix(err.Error(), "session: ") {
		t.Errorf("a policy that does not build: %v", err)
	}
}

// TestDeclaredPolicyError: a policy the runtime cannot build (a session
// declared in code, past the parser's check) is named once ("the declared
// policy: max …", not "policy: policy: …"), and the policy's error stays
// in the chain.
func TestDeclaredPolicyError(t *testing.T) {
	d := declare.Default()
	d.Policy = policy.Spec{Kind: "constant", Initial: time.Second, Max: time.Minute}
	_, err := Declared(d)
	want := "session: the declared policy: max does not apply to a constant policy"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Declared: %v, want %q…", err, want)
	}
	if _, berr := d.Policy.Build(); !strings.HasSuffix(err.Error(), strings.TrimPrefix(berr.Error(), "policy: ")) || errors.Unwrap(err) == nil {
		t.Errorf("Declared: %v does not wrap the policy's error %v", err, berr)
	}
}
