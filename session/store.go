package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// A Store keeps a session's token pair across restarts. Load and Save must
// be safe for concurrent use and honour ctx. A Session calls Save after
// every new pair (refresh, rotation, SetToken, fallback) from its refresh
// goroutine, a retry timer or SetToken's caller, never while holding a lock
// that Status or Token takes, and always with a context that ends: within
// the request timeout, and at Shutdown's deadline. A call that fails or
// runs out of time counts as the store being down: the session keeps
// serving its token, shows the error in Status.StoreError and retries.
// After the server refused its refresh token, a Session Loads again, in
// case another process saved a newer pair (see Session.New).
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
// Saving the zero Token (a logout) empties the store.
func (m *MemoryStore) Save(_ context.Context, t Token) error {
	m.mu.Lock()
	m.tok, m.set = t, t.Access != "" || t.Refresh != ""
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
// The processes of one host may share one FileStore path (several runs of a
// CLI, an editor's plugins, a worktree's tools): the file is the token
// family's file of a FileCoordinator on Path, which every Session with a
// FileStore uses by itself. Such a Session reads the file before it
// refreshes and adopts a newer pair another process wrote; it refreshes only
// while it holds the family's refresh lease, taken under the exclusive lock
// (flock) on Path+".lock", so one refresh at a time reaches the server, and
// it publishes each new pair as the family's next generation; after the
// server refused its refresh token it reads the file again before it gives
// the session up. Save, called from outside a Session (a login), writes the
// next generation too. Leftovers are removed only under that lock, so no
// process takes another's temporary file for one. As with any
// FileCoordinator, a process that dies while refreshing leaves its lease
// and its in-flight mark in the file: the next process (a restart of the
// same program included) waits for the lease to lapse (WithLease), serving
// a still-valid token meanwhile, and presents that refresh token again only
// inside the server's reuse grace (WithReuseGrace), else uses its fallback
// grant or stops rather than make the server revoke the family.
//
// The file format is a stored token ("access_token", "refresh_token",
// "token_type", "issued", "expiry", "scope", and "extra" for the token
// response's other members, Token.Extra) plus the coordination state
// ("generation", "lease", "in_flight"), which readers of the plain format
// ignore; a file without it reads as generation 0. Without flock (on other
// platforms than Unix) a FileStore serialises only its own Loads and Saves,
// and must not be shared.
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

// coordinator returns the FileCoordinator a Session with this store runs
// the family's protocol through, or nil where files cannot be locked.
func (f *FileStore) coordinator() Coordinator {
	if !fileLocks {
		return nil
	}
	return &FileCoordinator{Path: f.Path}
}

// Load implements Store. It reads the file without waiting for its lock,
// and first removes leftover temporary files when nobody holds the lock.
func (f *FileStore) Load(ctx context.Context) (Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Token{}, fmt.Errorf("session: token store: %w", err)
	}
	if left, err := leftovers(f.Path); err != nil {
		return Token{}, err
	} else if len(left) > 0 {
		if unlock, ok := tryLockFile(f.Path + ".lock"); ok {
			err := removeLeftovers(f.Path)
			unlock()
			if err != nil {
				return Token{}, err
			}
		}
	}
	ff, version, err := readFamily(f.Path)
	exists := version != nil
	switch {
	case !exists && err == nil:
		return Token{}, fmt.Errorf("%w: %s does not exist", ErrNoToken, f.Path)
	case errors.Is(err, errMalformed):
		return Token{}, fmt.Errorf("session: token store %s: not a stored token (malformed JSON)", f.Path)
	case err != nil:
		return Token{}, fmt.Errorf("session: token store: %w", err)
	}
	if ff.AccessToken == "" && ff.RefreshToken == "" {
		return Token{}, fmt.Errorf("%w: %s holds neither an access nor a refresh token", ErrNoToken, f.Path)
	}
	return ff.token(), nil
}

// Save implements Store: it replaces the pair and makes it the family's
// next generation, under the file's lock (waiting at most
// DefaultLockTimeout, and no longer than ctx allows), after removing
// leftover temporary files. A file that is not JSON is replaced.
func (f *FileStore) Save(ctx context.Context, t Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !fileLocks {
		if err := removeLeftovers(f.Path); err != nil {
			return err
		}
		b, err := json.Marshal(toStored(t))
		if err != nil {
			return fmt.Errorf("session: token store: %w", err)
		}
		_, err = writeAtomic(f.Path, b, true)
		return err
	}
	_, err := updateFamily(ctx, f.Path, "session: token store", DefaultLockTimeout, true, func(ff *familyFile, _ time.Time) change {
		ff.storedToken = toStored(t)
		ff.Generation++
		ff.InFlight = nil // a new pair: nobody presents the old refresh token now
		return changed
	})
	return err
}

// writeAtomic replaces path's content with b: a new file with mode 0600 in
// the same directory, synced, renamed over the old one, and with durable
// the directory synced, so a crash leaves either the old content or the
// new, never half of each, and the new one once it returned. Its temporary
// file is named "."+base(path)+".*". It returns the new version (see
// sameVersion).
func writeAtomic(path string, b []byte, durable bool) (version os.FileInfo, err error) {
	fileOps.writes.Add(1)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
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
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	if _, err = tmp.Write(b); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	fileOps.syncs.Add(1)
	if err = tmp.Sync(); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	if version, err = tmp.Stat(); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	if !durable {
		return version, nil
	}
	// The rename is durable only once the directory is: without this a
	// crash may bring back the old pair, whose refresh token the server
	// may already have rotated away.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("session: token store: %w", err)
	}
	return version, nil
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
	fileOps.syncs.Add(1)
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
