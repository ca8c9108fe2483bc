package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditVerify(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "..", "audit", "testdata", "chain.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodPath := write("good.jsonl", string(good))
	badPath := write("bad.jsonl", strings.Replace(string(good), "502 Bad Gateway", "401 Unauthorized", 1))
	tests := []struct {
		name      string
		args      []string
		code      int
		out, errw string
	}{
		{"intact", []string{"audit", "verify", goodPath}, exitOK, "ok, 5 records", ""},
		{"tampered", []string{"audit", "verify", badPath}, exitFailed, "", "bad.jsonl:3: audit: hash chain broken at line 3"},
		{"missing", []string{"audit", "verify", filepath.Join(dir, "none")}, exitBadInput, "", "no such file"},
		{"usage", []string{"audit"}, exitBadInput, "", "usage: authfsm audit verify FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errw) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.errw)
			}
		})
	}
}
