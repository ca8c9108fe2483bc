package audit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/audit"
)

var (
	hashA = strings.Repeat("a1", 32)
	hashB = strings.Repeat("b2", 32)
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		in      string
		want    audit.Head
		wantErr string
	}{
		{"5:" + hashA, audit.Head{Seq: 5, Hash: hashA}, ""},
		{hashA, audit.Head{Hash: hashA}, ""},
		{strings.ToUpper(hashA), audit.Head{Hash: hashA}, ""},
		{"0:" + hashA, audit.Head{}, "not a positive integer"},
		{"x:" + hashA, audit.Head{}, "not a positive integer"},
		{":" + hashA, audit.Head{}, "not a positive integer"},
		{"5:" + hashA[:63], audit.Head{}, "not 64 hex digits"},
		{"5:" + hashA[:62] + "zz", audit.Head{}, "not 64 hex digits"},
		{"", audit.Head{}, "not 64 hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := audit.ParseHead(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "audit: head") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseHead = %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseHead = %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.want.Seq != 0 {
				if back, err := audit.ParseHead(got.String()); err != nil || back != got {
					t.Errorf("ParseHead(%q) = %+v, %v; String does not round-trip", got.String(), back, err)
				}
			}
		})
	}
}

func TestCheckHead(t *testing.T) {
	tests := []struct {
		name        string
		got, anchor audit.Head
		want        string // empty: no error
	}{
		{"same", audit.Head{Seq: 5, Hash: hashA}, audit.Head{Seq: 5, Hash: hashA}, ""},
		{"same hash, seq not anchored", audit.Head{Seq: 5, Hash: hashA}, audit.Head{Hash: hashA}, ""},
		{"truncated", audit.Head{Seq: 3, Hash: hashB}, audit.Head{Seq: 5, Hash: hashA}, "chain ends at seq 3, before the anchored head at seq 5: 2 records missing from the tail (truncated)"},
		{"longer", audit.Head{Seq: 6, Hash: hashB}, audit.Head{Seq: 5, Hash: hashA}, "after the anchored head at seq 5: 1 records more than anchored"},
		{"rewritten", audit.Head{Seq: 5, Hash: hashB}, audit.Head{Seq: 5, Hash: hashA}, "seq 5 with hash " + hashB + ", but the anchored head's hash is " + hashA + ": the tail was rewritten"},
		{"hash only differs", audit.Head{Seq: 4, Hash: hashB}, audit.Head{Hash: hashA}, "not at the anchored hash " + hashA},
		{"empty log", audit.Head{}, audit.Head{Seq: 5, Hash: hashA}, "0, before the anchored head at seq 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.CheckHead(tc.got, tc.anchor)
			if tc.want == "" {
				if err != nil {
					t.Errorf("CheckHead = %v, want nil", err)
				}
				return
			}
			var he *audit.HeadError
			ok := errors.As(err, &he)
			if !ok || !errors.Is(err, audit.ErrHeadMismatch) || he.Got != tc.got || he.Anchor != tc.anchor {
				t.Fatalf("CheckHead = %#v, want a *HeadError matching ErrHeadMismatch", err)
			}
			if !strings.HasPrefix(err.Error(), "audit: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckHead = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
