package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/audit"
)

func TestRepair(t *testing.T) {
	rs := sampleRecords()
	plain := strings.SplitAfter(string(writeChain(t, rs)), "\n")
	keyed := strings.SplitAfter(string(writeKeyedChain(t, rs, audit.Head{}, audit.WithKey(testKey))), "\n")
	withKey := []audit.Option{audit.WithKey(testKey)}
	tests := []struct {
		name    string
		log     string
		opts    []audit.Option
		kept    string // the good prefix a repair keeps; unused when refused
		removed int64  // bytes cut; 0 with kept == log: intact, untouched
		refused string // non-empty: Repair fails with this and leaves the file
	}{
		{"intact", plain[0] + plain[1], nil, plain[0] + plain[1], 0, ""},
		{"intact without last newline", plain[0] + strings.TrimSuffix(plain[1], "\n"), nil, plain[0] + strings.TrimSuffix(plain[1], "\n"), 0, ""},
		{"empty", "", nil, "", 0, ""},
		{"torn last line", plain[0] + plain[1] + plain[2][:70], nil, plain[0] + plain[1], 70, ""},
		{"torn only line", plain[0][:25], nil, "", 25, ""},
		{"zeroed tail", plain[0] + "\x00\x00\x00\x00\x00\x00\x00\x00", nil, plain[0], 8, ""},
		{"torn keyed line", keyed[0] + keyed[1][:90], withKey, keyed[0], 90, ""},
		{"altered middle", plain[0] + strings.Replace(plain[1], "refreshing", "revoked", 1) + plain[2][:70], nil, "", 0, "line 2 (seq 2): hash does not match"},
		{"torn line inside", plain[0] + plain[1][:40] + "\n" + plain[2], nil, "", 0, "line 2 (seq 2): line has no trailing hash member"},
		{"whole last record altered", plain[0] + strings.TrimSuffix(strings.Replace(plain[1], "refreshing", "revoked", 1), "\n"), nil, "", 0, "line 2 (seq 2): hash does not match"},
		{"keyed log without its key", keyed[0] + keyed[1][:90], nil, "", 0, "line 1 (seq 1): hash does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(path, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := audit.Repair(path, tc.opts...)
			got, _ := os.ReadFile(path)
			if tc.refused != "" {
				var ce *audit.ChainError
				ok := errors.As(err, &ce)
				if !ok || ce.Torn || !strings.Contains(err.Error(), tc.refused) {
					t.Errorf("Repair = %+v, %v; want a ChainError, not torn, containing %q", res, err, tc.refused)
				}
				if string(got) != tc.log {
					t.Errorf("a refused repair changed the file to %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head, verr := audit.Verify(bytes.NewReader(got), tc.opts...)
			if verr != nil || head != res.Head || res.Removed != tc.removed {
				t.Fatalf("Repair = %+v; the file verifies as %+v, %v; want %d bytes removed", res, head, verr, tc.removed)
			}
			if tc.removed == 0 {
				if string(got) != tc.log {
					t.Errorf("repairing an intact log changed it to %q", got)
				}
				return
			}
			if !strings.HasPrefix(string(got), tc.kept) {
				t.Fatalf("repaired log %q does not start with the good prefix %q", got, tc.kept)
			}
			var n audit.Record
			if err := json.Unmarshal(got[len(tc.kept):], &n); err != nil {
				t.Fatal(err)
			}
			kept, _ := audit.Verify(strings.NewReader(tc.kept), tc.opts...)
			want := fmt.Sprintf("audit log repaired: %d bytes of a torn last line removed", tc.removed)
			if n.Note != want || n.Seq != kept.Seq+1 || n.Prev != kept.Hash || n.Time.IsZero() {
				t.Errorf("note = %+v, want seq %d after %s saying %q", n, kept.Seq+1, kept.Hash, want)
			}
			// The repaired log takes new records again.
			w, err := audit.OpenChainFile(path, tc.opts...)
			if err != nil {
				t.Fatalf("OpenChainFile after the repair: %v", err)
			}
			if err := w.Write(rs[4]); err != nil || w.Head().Seq != n.Seq+1 {
				t.Errorf("Write after the repair = %v, head %+v", err, w.Head())
			}
			w.Close()
		})
	}
}

func TestRepairMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.jsonl")
	if _, err := audit.Repair(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Repair(missing) = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Repair created %s", path)
	}
	if _, err := audit.Repair(path, audit.WithKey(nil)); !errors.Is(err, audit.ErrEmptyKey) {
		t.Errorf("Repair with an empty key = %v, want ErrEmptyKey", err)
	}
}
