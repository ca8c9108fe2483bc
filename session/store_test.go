package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestStores(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := Token{Access: "a", Refresh: "r", Type: "Bearer", Issued: at, Expiry: at.Add(time.Hour), Scope: "read"}
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	for name, st := range map[string]Store{"memory": &MemoryStore{}, "file": &FileStore{Path: path}} {
		t.Run(name, func(t *testing.T) {
			if _, err := st.Load(ctx); !errors.Is(err, ErrNoToken) {
				t.Errorf("Load on an empty store = %v, want ErrNoToken", err)
			}
			for _, want := range []Token{tok, {Access: "a2", Refresh: "r2", Expiry: at.Add(2 * time.Hour)}} {
				if err := st.Save(ctx, want); err != nil {
					t.Fatal(err)
				}
				got, err := st.Load(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Load after Save (-want +got):\n%s", diff)
				}
			}
		})
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	// The token file and, where files can be locked, its lock file
	// (FileStore is safe across processes); no temporary file is left.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"token.json"}
	if fileLocks {
		want = append(want, "token.json.lock")
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("directory entries (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(path, []byte(`{"access_token":"secret-value`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = (&FileStore{Path: path}).Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "malformed JSON") || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("Load of a broken file = %v", err)
	}
	if err := (&FileStore{Path: filepath.Join(dir, "missing", "token.json")}).Save(ctx, tok); err == nil || !strings.HasPrefix(err.Error(), "session: token store") {
		t.Errorf("Save into a missing directory = %v", err)
	}
}

// TestFileStoreRemovesLeftovers checks that Save and Load remove the
// temporary files a crashed Save leaves behind, each holding a token pair,
// and nothing else.
func TestFileStoreRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	const secret = "leftover-refresh-secret"
	leftovers := []string{".token.json.123456789", ".token.json.1", ".token.json.tmp"}
	unrelated := []string{"token.json.bak", ".token.json", ".token.json2.123456", ".other.json.123456", "x.token.json.1", "notes.txt"}
	tests := []struct {
		name string
		op   func(*FileStore) error
	}{
		{"save", func(f *FileStore) error {
			return f.Save(ctx, Token{Access: "a2", Refresh: "r2"})
		}},
		{"load", func(f *FileStore) error {
			got, err := f.Load(ctx)
			if err == nil && (got.Access != "a" || got.Refresh != "r") {
				t.Errorf("Load = %v, want the saved pair", got)
			}
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := &FileStore{Path: filepath.Join(dir, "token.json")}
			if err := f.Save(ctx, Token{Access: "a", Refresh: "r"}); err != nil {
				t.Fatal(err)
			}
			for _, name := range leftovers {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"access_token":"x","refresh_token":"`+secret+`"}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range unrelated {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("keep "+name), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A directory with a leftover's name is not a file Save wrote.
			if err := os.Mkdir(filepath.Join(dir, ".token.json.dir"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.op(f); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
				if b, _ := os.ReadFile(filepath.Join(dir, e.Name())); strings.Contains(string(b), secret) {
					t.Errorf("%s still holds the secret", e.Name())
				}
			}
			want := append([]string{"token.json", ".token.json.dir"}, unrelated...)
			if fileLocks {
				want = append(want, "token.json.lock") // Save's, and Load's when it removed leftovers
			}
			if diff := cmp.Diff(want, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("directory after %s (-want +got):\n%s", tc.name, diff)
			}
			for _, name := range unrelated {
				if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "keep "+name {
					t.Errorf("%s changed to %q", name, b)
				}
			}
			fi, err := os.Stat(f.Path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("token file: %v, %v; want mode 0600", fi.Mode(), err)
			}
		})
	}
}

func TestFileStoreLoadMissingDirectory(t *testing.T) {
	f := &FileStore{Path: filepath.Join(t.TempDir(), "missing", "token.json")}
	if _, err := f.Load(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Errorf("Load with a missing directory = %v, want ErrNoToken", err)
	}
}

// TestSyncDir checks that syncing a directory works where it should and
// that errors other than "cannot sync a directory here" are reported.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		dir  string
		want error
	}{
		{"directory", dir, nil},
		{"missing", filepath.Join(dir, "missing"), os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := syncDir(tc.dir); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("syncDir(%s) = %v, want %v", tc.dir, err, tc.want)
			}
		})
	}
}
