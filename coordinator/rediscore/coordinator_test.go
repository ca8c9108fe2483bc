package rediscore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// nopConn is a Conn that reaches no server.
type nopConn struct{}

func (nopConn) Eval(context.Context, *Script, []string, ...string) (any, error) {
	return nil, errors.New("nopConn")
}

func (nopConn) Subscribe(context.Context, string) (Subscription, error) {
	return nil, errors.New("nopConn")
}

// TestPollDelay: the poll interval varies within ±20 %, the same way for
// the same seed.
func TestPollDelay(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want time.Duration
	}{
		{nil, DefaultPollInterval},
		{[]Option{WithPollInterval(0)}, DefaultPollInterval},
		{[]Option{WithPollInterval(100 * time.Millisecond)}, 100 * time.Millisecond},
	} {
		a := New(nopConn{}, "k", append(tc.opts, WithJitterSeed(42))...)
		b := New(nopConn{}, "k", append(tc.opts, WithJitterSeed(42))...)
		lo, hi := tc.want, tc.want
		for range 1000 {
			d := a.pollDelay()
			if e := b.pollDelay(); d != e {
				t.Fatalf("same seed, delays %v and %v", d, e)
			}
			if d < tc.want*8/10 || d > tc.want*12/10 {
				t.Fatalf("delay %v outside %v ± 20 %%", d, tc.want)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > tc.want*85/100 || hi < tc.want*115/100 {
			t.Errorf("delays only in [%v, %v] around %v: no jitter?", lo, hi, tc.want)
		}
	}
}

// TestNewPanics: a nil Conn or an empty key is a programming error.
func TestNewPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nil conn":  func() { New(nil, "k") },
		"empty key": func() { New(nopConn{}, "") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with %s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestScriptSHA1: EVALSHA names a script by the SHA-1 of its source.
func TestScriptSHA1(t *testing.T) {
	s := newScript("return 1")
	if s.SHA1 != "e0e1f9fabfc9d4800c877a703b823ac0578ff8db" {
		t.Errorf("SHA1 of %q = %s", s.Src, s.SHA1)
	}
}
