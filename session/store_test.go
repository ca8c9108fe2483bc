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
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the token file (no temporary files left)", len(entries))
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
