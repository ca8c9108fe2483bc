package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
)

func TestSlogSink(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := audit.NewSlogSink(l).WithLevel(slog.LevelDebug)
	r := sampleRecords()[2]
	r.Seq = 3
	if err := s.Write(r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	delete(got, "time")
	want := map[string]any{
		"level": "DEBUG", "msg": "auth session transition", "seq": 3.0, "session": "s1",
		"from": "refreshing", "to": "backoff", "event": "fail", "cause": "502 Bad Gateway", "reason": "transient", "class": "transient", "attempt": 1.0,
		"next_at": "2026-03-01T12:00:01+01:00", "token": audit.Fingerprint("access-token"),
		"at": "2026-03-01T12:00:00.05+01:00",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
}

func TestMultiAndMemory(t *testing.T) {
	var a, b audit.Memory
	boom := errors.New("boom")
	s := audit.Multi(&a, audit.SinkFunc(func(audit.Record) error { return boom }), &b, audit.Discard)
	rs := sampleRecords()
	for _, r := range rs {
		if err := s.Write(r); !errors.Is(err, boom) {
			t.Errorf("Multi.Write = %v, want boom", err)
		}
	}
	if diff := cmp.Diff(rs, b.Records()); diff != "" {
		t.Errorf("records after a failing sink (-want +got):\n%s", diff)
	}
	if len(a.Records()) != len(rs) {
		t.Errorf("first sink got %d records, want %d", len(a.Records()), len(rs))
	}
}

func TestFingerprint(t *testing.T) {
	tests := []struct{ token, want string }{
		{"", ""},
		{"access-token", audit.Fingerprint("access-token")},
	}
	for _, tc := range tests {
		if got := audit.Fingerprint(tc.token); got != tc.want {
			t.Errorf("Fingerprint(%q) = %q, not stable", tc.token, got)
		}
	}
	fa, fb := audit.Fingerprint("token-A-secret"), audit.Fingerprint("token-B-secret")
	if fa == fb {
		t.Errorf("different tokens share the fingerprint %q", fa)
	}
	if !strings.HasPrefix(fa, "sha256:") || len(fa) != len("sha256:")+audit.FingerprintLen || strings.Contains(fa, "secret") {
		t.Errorf("Fingerprint = %q, want sha256: and %d hex digits", fa, audit.FingerprintLen)
	}
	// SHA-256("abc") starts with ba7816bf8f01.
	if got := audit.Fingerprint("abc"); got != "sha256:ba7816bf8f01" {
		t.Errorf(`Fingerprint("abc") = %q, want sha256:ba7816bf8f01`, got)
	}
}
