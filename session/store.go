package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A Store keeps a session's token pair across restarts. Load and Save must
// be safe for concurrent use. A Session calls Save after every new pair
// (refresh, rotation, SetToken, fallback) from its refresh goroutine or from
// SetToken's caller, never while holding its lock.
type Store interface {
	// Load returns the stored pair, or an error matching ErrNoToken when
	// there is none.
	Load(ctx context.Context) (Token, error)
	// Save replaces the stored pair.
	Save(ctx context.Context, t Token) error
}

// MemoryStore is a Store in memory; the zero value is empty and ready.
type MemoryStore struct {
	mu  sync.Mutex
	tok Token
	set bool
}

// Load implements Store.
func (m *MemoryStore) Load(context.Context) (Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set {
		return Token{}, ErrNoToken
	}
	return m.tok, nil
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, t Token) error {
	m.mu.Lock()
	m.tok, m.set = t, true
	m.mu.Unlock()
	return nil
}

// FileStore is a Store in one JSON file, written atomically: a new file with
// mode 0600 in the same directory, synced, then renamed over the old one and
// the directory synced, so a crash leaves either the old pair or the new
// one, never half of each. A crash between creating the temporary file and
// the rename leaves it behind, holding a whole token pair: Load and Save
// remove such leftovers, the files named "."+filepath.Base(Path)+".*" in
// Path's directory, and nothing else.
//
// One file must not be shared by several processes (or several FileStores)
// without coordination: each would overwrite the pair the other saved,
// losing a rotated refresh token, and each would take the other's temporary
// file for a leftover and remove it. A FileStore serialises only its own
// Loads and Saves. Coordinating several holders of one token is the job of
// a Coordinator (FileCoordinator on one host), not of a Store.
type FileStore struct {
	// Path is the file; its directory must exist.
	Path string
	mu   sync.Mutex
}

// storedToken is the file format. It holds the secrets in clear: the file is
// the one place besides the Authorization header where they belong.
type storedToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Issued       time.Time `json:"issued,omitzero"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
	// Extra holds the token response's other members (Token.Extra).
	Extra map[string]any `json:"extra,omitempty"`
}

// Load implements Store. It first removes leftover temporary files.
func (f *FileStore) Load(context.Context) (Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.removeLeftovers(); err != nil {
		return Token{}, err
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Token{}, fmt.Errorf("%w: %s does not exist", ErrNoToken, f.Path)
	}
	if err != nil {
		return Token{}, fmt.Errorf("session: token store: %w", err)
	}
	var s storedToken
	if err := json.Unmarshal(b, &s); err != nil {
		// The error text of encoding/json quotes no values, but keep it
		// generic: the file holds secrets.
		return Token{}, fmt.Errorf("session: token store %s: not a stored token (malformed JSON)", f.Path)
	}
	if s.AccessToken == "" && s.RefreshToken == "" {
		return Token{}, fmt.Errorf("%w: %s holds neither an access nor a refresh token", ErrNoToken, f.Path)
	}
	return s.token(), nil
}

// Save implements Store. It first removes leftover temporary files.
func (f *FileStore) Save(_ context.Context, t Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.removeLeftovers(); err != nil {
		return err
	}
	b, err := json.Marshal(toStored(t))
	if err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	return writeAtomic(f.Path, b)
}

// writeAtomic replaces path's content with b: a new file with mode 0600 in
// the same directory, synced, renamed over the old one, and the directory
// synced, so a crash leaves either the old content or the new, never half
// of each. Its temporary file is named "."+base(path)+".*".
func writeAtomic(path string, b []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; say so explicitly, since the
	// mode is the store's whole protection.
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	// The rename is durable only once the directory is: without this a
	// crash may bring back the old pair, whose refresh token the server
	// may already have rotated away.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("session: token store: %w", err)
	}
	return nil
}

// tempPrefix is how the names of Save's temporary files begin: CreateTemp
// replaces the "*" of "."+base+".*" with random digits.
func (f *FileStore) tempPrefix() string { return "." + filepath.Base(f.Path) + "." }

// removeLeftovers removes the temporary files a crashed Save left behind:
// regular files in Path's directory whose names are tempPrefix and more.
// It is called with f.mu held, so no Save of this FileStore is writing one.
// A missing directory has no leftovers.
func (f *FileStore) removeLeftovers() error {
	dir := filepath.Dir(f.Path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session: token store: looking for leftover temporary files: %w", err)
	}
	prefix := f.tempPrefix()
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) <= len(prefix) || !strings.HasPrefix(name, prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("session: token store: removing leftover temporary file: %w", err)
		}
	}
	return nil
}

// syncDir makes a rename in dir durable. Where directories cannot be synced
// (Windows cannot open them for it; some file systems answer EINVAL or
// "not supported") there is nothing more to do, and that is not an error.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
