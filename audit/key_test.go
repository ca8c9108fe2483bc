package audit_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/audit"
)

var testKey = []byte("test-hmac-key, never a real one")

func writeKeyedChain(t *testing.T, rs []audit.Record, head audit.Head, opts ...audit.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := audit.NewChainWriter(&buf, head, opts...)
	for _, r := range rs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestKeyedChainGolden(t *testing.T) {
	got := writeKeyedChain(t, sampleRecords(), audit.Head{}, audit.WithKey(testKey))
	golden := filepath.Join("testdata", "chain-keyed.jsonl")
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
		t.Errorf("keyed chain differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
	// The hash is HMAC-SHA256 of the line without its hash member, computed
	// here independently of the package.
	first, _, _ := bytes.Cut(got, []byte("\n"))
	i := bytes.LastIndex(first, []byte(`,"hash":"`))
	m := hmac.New(sha256.New, testKey)
	m.Write(append(append([]byte(nil), first[:i]...), '}'))
	if want := `,"hash":"` + hex.EncodeToString(m.Sum(nil)) + `"}`; string(first[i:]) != want {
		t.Errorf("first line ends %s, want %s", first[i:], want)
	}
	if bytes.Equal(got, writeChain(t, sampleRecords())) {
		t.Error("keyed chain equals the plain one")
	}
}

func TestVerifyKeyed(t *testing.T) {
	rs := sampleRecords()
	keyed := writeKeyedChain(t, rs, audit.Head{}, audit.WithKey(testKey))
	lines := strings.SplitAfter(string(keyed), "\n")
	// A forger without the key alters record 3 and recomputes the hashes of
	// the tail, the best he can do: plain SHA-256 from record 2's head on.
	altered := append([]audit.Record(nil), rs[2:]...)
	altered[0].Cause = "all fine"
	plainHead, err := audit.Verify(strings.NewReader(lines[0] + lines[1]))
	if err == nil {
		t.Fatalf("the first two keyed lines verify without the key (head %+v)", plainHead)
	}
	head2, err := audit.Verify(strings.NewReader(lines[0]+lines[1]), audit.WithKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	forged := lines[0] + lines[1] + string(writeKeyedChain(t, altered, head2))
	tests := []struct {
		name   string
		log    string
		opts   []audit.Option
		line   int
		reason string // empty: the log verifies
	}{
		{"right key", string(keyed), []audit.Option{audit.WithKey(testKey)}, 0, ""},
		{"no key", string(keyed), nil, 1, "hash does not match the record (record altered, or an HMAC-keyed log verified without its key)"},
		{"wrong key", string(keyed), []audit.Option{audit.WithKey([]byte("test-hmac-key, never a real one!"))}, 1, "not the key the log was written with"},
		{"plain log with a key", string(writeChain(t, rs)), []audit.Option{audit.WithKey(testKey)}, 1, "hash does not match"},
		{"tail recomputed without the key", forged, []audit.Option{audit.WithKey(testKey)}, 3, "hash does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head, err := audit.Verify(strings.NewReader(tc.log), tc.opts...)
			if tc.reason == "" {
				if err != nil || head.Seq != uint64(len(rs)) {
					t.Errorf("Verify = %+v, %v; want seq %d, nil", head, err, len(rs))
				}
				return
			}
			var ce *audit.ChainError
			ok := errors.As(err, &ce)
			if !ok || ce.Line != tc.line || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("Verify = %v, want a ChainError at line %d containing %q", err, tc.line, tc.reason)
			}
		})
	}
}

func TestEmptyKeyIsRefused(t *testing.T) {
	for _, key := range [][]byte{nil, {}} {
		if _, err := audit.Verify(strings.NewReader(""), audit.WithKey(key)); !errors.Is(err, audit.ErrEmptyKey) {
			t.Errorf("Verify with key %q = %v, want ErrEmptyKey", key, err)
		}
		var buf bytes.Buffer
		w := audit.NewChainWriter(&buf, audit.Head{}, audit.WithKey(key))
		if err := w.Write(sampleRecords()[0]); !errors.Is(err, audit.ErrEmptyKey) || buf.Len() != 0 {
			t.Errorf("Write with key %q = %v and wrote %q, want ErrEmptyKey and nothing", key, err, buf.String())
		}
		if _, err := audit.OpenChainFile(filepath.Join(t.TempDir(), "a.jsonl"), audit.WithKey(key)); !errors.Is(err, audit.ErrEmptyKey) {
			t.Errorf("OpenChainFile with key %q = %v, want ErrEmptyKey", key, err)
		}
	}
}

func TestOpenChainFileKeyed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	rs := sampleRecords()
	for _, part := range [][]audit.Record{rs[:2], rs[2:]} {
		w, err := audit.OpenChainFile(path, audit.WithKey(testKey))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range part {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	got, _ := os.ReadFile(path)
	if want := writeKeyedChain(t, rs, audit.Head{}, audit.WithKey(testKey)); !bytes.Equal(got, want) {
		t.Errorf("resumed keyed chain:\n%s\nwant:\n%s", got, want)
	}
	if _, err := audit.OpenChainFile(path); !errors.Is(err, audit.ErrChainBroken) {
		t.Errorf("OpenChainFile(keyed log, no key) = %v, want ErrChainBroken", err)
	}
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          string
		err           error
	}{
		{"newline", "s3cret\n", "s3cret", nil},
		{"crlf", "s3cret\r\n", "s3cret", nil},
		{"no newline", "s3cret", "s3cret", nil},
		{"only one newline trimmed", "s3cret\n\n", "s3cret\n", nil},
		{"inner spaces kept", " s3 cret \n", " s3 cret ", nil},
		{"empty", "", "", audit.ErrEmptyKey},
		{"just a newline", "\n", "", audit.ErrEmptyKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := audit.ReadKeyFile(path)
			if string(got) != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("ReadKeyFile = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	_, err := audit.ReadKeyFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "audit: key file") {
		t.Errorf("ReadKeyFile(missing) = %v", err)
	}
}
