package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

// sampleRecords is a refresh that meets a 502 and then succeeds.
func sampleRecords() []audit.Record {
	tr := []states.Transition{
		{At: t0, From: states.Valid, To: states.Expired, Event: states.Expire, Reason: states.ReasonExpired},
		{At: t0, From: states.Expired, To: states.Refreshing, Event: states.Refresh, Reason: states.ReasonExpired, Attempt: 1},
		{At: t0.Add(50 * time.Millisecond), From: states.Refreshing, To: states.Backoff, Event: states.Fail, Reason: states.ReasonTransient, Detail: "502 Bad Gateway", Sent: true, Class: policy.Transient, Attempt: 1, NextAt: t0.Add(time.Second)},
		{At: t0.Add(time.Second), From: states.Backoff, To: states.Refreshing, Event: states.Retry, Reason: states.ReasonRetryDue, Attempt: 2},
		{At: t0.Add(1050 * time.Millisecond), From: states.Refreshing, To: states.Valid, Event: states.Succeed, Attempt: 2},
	}
	var rs []audit.Record
	for _, t := range tr {
		r := audit.FromTransition(t)
		r.Session = "s1"
		r.Token = audit.Fingerprint("access-token")
		rs = append(rs, r)
	}
	return rs
}

func writeChain(t *testing.T, rs []audit.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := audit.NewChainWriter(&buf, audit.Head{})
	for _, r := range rs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestChainGolden(t *testing.T) {
	got := writeChain(t, sampleRecords())
	golden := filepath.Join("testdata", "chain.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("chain differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
	head, err := audit.Verify(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if head.Seq != 5 || len(head.Hash) != 64 {
		t.Errorf("head = %+v, want seq 5 and a SHA-256", head)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	good := writeChain(t, sampleRecords())
	lines := strings.SplitAfter(string(good), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	join := func(ls ...string) string { return strings.Join(ls, "") }
	tests := []struct {
		name     string
		log      string
		wantLine int
		reason   string
		torn     bool
	}{
		{"altered cause", join(lines[0], lines[1], strings.Replace(lines[2], "502 Bad Gateway", "401 Unauthorized", 1), lines[3], lines[4]), 3, "record altered", false},
		{"altered time", join(lines[0], strings.Replace(lines[1], "11:00:00Z", "11:00:01Z", 1), lines[2], lines[3], lines[4]), 2, "record altered", false},
		{"removed record", join(lines[0], lines[1], lines[3], lines[4]), 3, "seq 4 follows seq 2", false},
		{"swapped records", join(lines[0], lines[2], lines[1], lines[3], lines[4]), 2, "seq 3 follows seq 1", false},
		{"duplicated record", join(lines[0], lines[1], lines[1], lines[2]), 3, "seq 2 follows seq 2", false},
		{"hash stripped", join(lines[0], strings.Replace(lines[1], `,"hash":"`, `,"hush":"`, 1)), 2, "no trailing hash member", false},
		{"hash not hex", join(lines[0], lines[1][:len(lines[1])-5]+"zz\"}\n"), 2, "not a hex SHA-256", false},
		{"foreign line", join(lines[0], "hello\n"), 2, "no trailing hash member", false},
		{"first record removed", join(lines[1], lines[2]), 1, "seq 2 follows seq 0", false},
		{"truncated line", join(lines[0], lines[1][:40]), 2, "no trailing hash member", true},
		{"zeroed tail", join(lines[0], "\x00\x00\x00\x00"), 2, "no trailing hash member", true},
		{"truncated line inside", join(lines[0], lines[1][:40]+"\n", lines[2]), 2, "no trailing hash member", false},
		{"altered last line without newline", join(lines[0], strings.TrimSuffix(strings.Replace(lines[1], "refreshing", "revoked", 1), "\n")), 2, "record altered", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.Verify(strings.NewReader(tc.log))
			var ce *audit.ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a *ChainError", err)
			}
			if !errors.Is(err, audit.ErrChainBroken) {
				t.Errorf("errors.Is(%v, ErrChainBroken) = false", err)
			}
			if ce.Line != tc.wantLine || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("got line %d reason %q, want line %d reason containing %q", ce.Line, ce.Reason, tc.wantLine, tc.reason)
			}
			if ce.Torn != tc.torn {
				t.Errorf("Torn = %v, want %v", ce.Torn, tc.torn)
			}
		})
	}
}

func TestVerifyRelinkedPrevIsDetected(t *testing.T) {
	// An attacker who deletes a record and recomputes the next record's own
	// hash still breaks the link to the record before it.
	rs := sampleRecords()
	full := writeChain(t, rs)
	short := writeChain(t, append(rs[:2:2], rs[3:]...))
	lines := strings.SplitAfter(string(full), "\n")
	relinked := strings.SplitAfter(string(short), "\n")
	log := lines[0] + lines[1] + lines[2] + relinked[2]
	_, err := audit.Verify(strings.NewReader(log))
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Line != 4 {
		t.Fatalf("Verify = %v, want a *ChainError at line 4", err)
	}
}

func TestVerifyEmpty(t *testing.T) {
	head, err := audit.Verify(strings.NewReader(""))
	if err != nil || head != (audit.Head{}) {
		t.Errorf("Verify(empty) = %+v, %v; want zero head, nil", head, err)
	}
}

func TestVerifyRejectsHugeLine(t *testing.T) {
	_, err := audit.Verify(strings.NewReader(strings.Repeat("x", 2<<20) + "\n"))
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Line != 1 {
		t.Fatalf("Verify = %v, want a *ChainError at line 1", err)
	}
}

func TestOpenChainFileResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	rs := sampleRecords()
	for _, part := range [][]audit.Record{rs[:2], rs[2:]} {
		w, err := audit.OpenChainFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range part {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(writeChain(t, rs)), string(got)); diff != "" {
		t.Errorf("resumed chain differs from one written at once (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}

	// A tampered log is not extended.
	if err := os.WriteFile(path, []byte(strings.Replace(string(got), "502", "503", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenChainFile(path); !errors.Is(err, audit.ErrChainBroken) {
		t.Errorf("OpenChainFile(tampered) = %v, want ErrChainBroken", err)
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestChainWriterErrorIsSticky(t *testing.T) {
	w := audit.NewChainWriter(&failingWriter{n: 1}, audit.Head{})
	rs := sampleRecords()
	if err := w.Write(rs[0]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if err := w.Write(rs[i]); err == nil || !strings.Contains(err.Error(), "writing record 2: disk full") {
			t.Errorf("Write %d = %v, want the first write error", i, err)
		}
	}
	if h := w.Head(); h.Seq != 1 {
		t.Errorf("head seq = %d, want 1", h.Seq)
	}
}

// TestOpenChainFileTail checks what OpenChainFile does with the end of an
// existing log: it ends a last record that lacks its newline before
// appending, and refuses a torn or altered tail without changing the file.
func TestOpenChainFileTail(t *testing.T) {
	rs := sampleRecords()
	full := string(writeChain(t, rs))
	lines := strings.SplitAfter(full, "\n")
	tests := []struct {
		name     string
		existing string
		wantErr  string // empty: the open succeeds and the rest is appended
		repair   bool   // the error names the repair command
	}{
		{"ends with newline", lines[0] + lines[1], "", false},
		{"last newline missing", lines[0] + strings.TrimSuffix(lines[1], "\n"), "", false},
		{"torn last line", lines[0] + lines[1] + lines[2][:60], "line 3 (seq 3): line has no trailing hash member", true},
		{"torn first line", lines[0][:10], "line 1 (seq 1)", true},
		{"altered middle", strings.Replace(lines[0], "expired", "revoked", 1) + lines[1], "line 1 (seq 1): hash does not match", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(path, []byte(tc.existing), 0o600); err != nil {
				t.Fatal(err)
			}
			w, err := audit.OpenChainFile(path)
			if tc.wantErr != "" {
				if !errors.Is(err, audit.ErrChainBroken) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OpenChainFile = %v, want ErrChainBroken containing %q", err, tc.wantErr)
				}
				if got := strings.Contains(err.Error(), "authfsm audit repair "+path); got != tc.repair {
					t.Errorf("error %q names the repair: %v, want %v", err, got, tc.repair)
				}
				if b, _ := os.ReadFile(path); string(b) != tc.existing {
					t.Errorf("a refused open changed the file to %q", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs[2:] {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if diff := cmp.Diff(full, string(got)); diff != "" {
				t.Errorf("appended chain (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyChainsBeforeReason: chains written before records carried
// reason, sent and class (the files beside the goldens, kept as they were
// written) still verify, keyed or not, and still decode, their causes in
// words only.
func TestVerifyChainsBeforeReason(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts []audit.Option
	}{
		{"chain-before-reason.jsonl", nil},
		{"chain-keyed-before-reason.jsonl", []audit.Option{audit.WithKey(testKey)}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if head, err := audit.Verify(bytes.NewReader(b), tc.opts...); err != nil || head.Seq != 5 {
			t.Errorf("%s: head %+v, %v", tc.file, head, err)
		}
		var r audit.Record
		first, _, _ := bytes.Cut(b, []byte("\n"))
		if err := json.Unmarshal(first, &r); err != nil || r.Cause != "access token expired" || r.Reason != states.ReasonNone {
			t.Errorf("%s: first record %+v, %v", tc.file, r, err)
		}
	}
}
