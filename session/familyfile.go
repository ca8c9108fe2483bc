package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// The token family's file, as FileCoordinator and FileStore share it: one
// format, one lock, one way to read and rewrite it.
//
// Every writer takes the exclusive lock on Path+".lock" (lockFile), reads
// the file, and replaces it atomically (writeAtomic). A reader needs no
// lock: the rename makes it see one whole version, old or new. So nothing
// but a writer ever waits for the lock, and a writer waits only as long as
// its context and its lock timeout allow.

// DefaultLockTimeout bounds the wait for a token file's lock unless
// FileCoordinator.LockTimeout says otherwise, whatever the caller's
// context: a writer holds the lock for the microseconds of one read and
// rewrite, so a longer wait means the process holding it is stuck (stopped,
// or hung on a dead file system), and the store counts as down.
const DefaultLockTimeout = 10 * time.Second

// ErrLocked is matched by the error of a FileCoordinator or FileStore
// operation that gave up waiting for the token file's lock, which another
// process held: the caller's context ended, or the lock timeout passed. A
// Session takes it, like any store failure, for the store being down.
var ErrLocked = errors.New("session: the token file's lock is held by another process")

// lockError is a wait for a token file's lock that gave up; it matches
// ErrLocked, and unwraps to the context's error when that ended it.
type lockError struct {
	what, path string
	waited     time.Duration
	cause      error // nil: the lock timeout passed
}

func (e *lockError) Error() string {
	why := "the lock timeout"
	if e.cause != nil {
		why = e.cause.Error()
	}
	return fmt.Sprintf("%s: %s is locked by another process; gave up after %v (%s)", e.what, e.path, e.waited.Round(time.Millisecond), why)
}

func (e *lockError) Is(target error) bool { return target == ErrLocked }
func (e *lockError) Unwrap() error        { return e.cause }

// familyFile is the file format: a stored token plus the coordination
// state. Secrets are in clear; the file is where they belong. A file a
// FileStore of an older version wrote is one without the coordination
// state (generation 0), and such a FileStore reads this one.
type familyFile struct {
	storedToken
	Generation uint64   `json:"generation,omitempty"`
	Lease      *leaseF  `json:"lease,omitempty"`
	InFlight   *flightF `json:"in_flight,omitempty"`
}

type leaseF struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

type flightF struct {
	Holder     string    `json:"holder"`
	Generation uint64    `json:"generation"`
	At         time.Time `json:"at"`
}

// fileOps counts what the processes' token files cost: reads, the reads
// under the lock, writes and fsyncs, over every file of the process. The
// tests that pin what a refresh costs read it (roundtrips_test.go).
var fileOps struct {
	reads   atomic.Int64 // the file read, under the lock or not
	watched atomic.Int64 // of which by a Wait, having seen a new version
	locked  atomic.Int64 // lock-and-read cycles
	writes  atomic.Int64 // the file replaced
	syncs   atomic.Int64 // fsyncs, of a file or a directory
}

// errMalformed is readFamily's error for a file that is not JSON; callers
// say so in their own words, without quoting the file.
var errMalformed = errors.New("malformed JSON")

// readFamily reads the family's file without its lock, and returns the
// version it read (see sameVersion): nil, with an empty family, when there
// is no file.
func readFamily(path string) (f familyFile, version os.FileInfo, err error) {
	fileOps.reads.Add(1)
	fd, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil, nil
	}
	if err != nil {
		return f, nil, err
	}
	defer fd.Close()
	if version, err = fd.Stat(); err != nil {
		return f, nil, err
	}
	b, err := io.ReadAll(fd)
	if err != nil {
		return f, nil, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		// encoding/json quotes no values, but the file holds secrets:
		// keep even its message out.
		return familyFile{}, version, errMalformed
	}
	return f, version, nil
}

// sameVersion reports whether the file at path is still version (nil: no
// file). Writers never change the file in place: they rename a new one
// over it, so a new version is another file, whose modification time
// differs too where the file system reuses the old one's inode number.
func sameVersion(path string, version os.FileInfo) bool {
	cur, err := os.Stat(path)
	if err != nil {
		return version == nil && errors.Is(err, os.ErrNotExist)
	}
	return version != nil && os.SameFile(version, cur) && version.ModTime().Equal(cur.ModTime()) && version.Size() == cur.Size()
}

// A change is what an update did to the family's state.
type change uint8

const (
	unchanged change = iota
	// leaseChanged: the lease alone changed. The new version is written
	// and synced, but its directory is not: a crash may bring back the
	// version before, which holds the same pair and mark, and a lease is
	// void after a crash of the host anyway. One fsync fewer.
	leaseChanged
	// changed: the pair, the generation or the mark changed, which must
	// survive a crash: the new version and its directory are synced.
	changed
)

// updateFamily runs fn on the family's state under the lock (waiting at
// most limit, and no longer than ctx allows) and, when fn reports a
// change, replaces the file, first removing the temporary files a crashed
// writer left behind. It returns the file's version after it. what
// prefixes its errors. With overwriteBroken, a file that is not JSON
// counts as empty instead of failing.
func updateFamily(ctx context.Context, path, what string, limit time.Duration, overwriteBroken bool,
	fn func(f *familyFile, now time.Time) change) (os.FileInfo, error) {
	unlock, err := lockFile(ctx, path+".lock", what, limit)
	if err != nil {
		return nil, err
	}
	defer unlock()
	fileOps.locked.Add(1)
	f, version, err := readFamily(path)
	switch {
	case errors.Is(err, errMalformed) && overwriteBroken:
		f = familyFile{}
	case errors.Is(err, errMalformed):
		return nil, fmt.Errorf("%s: %s is not a family file (malformed JSON)", what, path)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	c := fn(&f, time.Now())
	if c == unchanged {
		return version, nil
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := removeLeftovers(path); err != nil {
		return nil, err
	}
	return writeAtomic(path, b, c == changed)
}

// tempPrefix is how the names of writeAtomic's temporary files for path
// begin: CreateTemp replaces the "*" of "."+base+".*" with random digits.
func tempPrefix(path string) string { return "." + filepath.Base(path) + "." }

// leftovers lists the temporary files a crashed writer left behind in
// path's directory, each holding a whole token pair: regular files whose
// names are tempPrefix and more. A missing directory has none.
func leftovers(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: token store: looking for leftover temporary files: %w", err)
	}
	prefix := tempPrefix(path)
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && len(name) > len(prefix) && strings.HasPrefix(name, prefix) {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out, nil
}

// removeLeftovers removes the leftovers of path. It is called under the
// token file's lock, so no writer of any process is writing one.
func removeLeftovers(path string) error {
	names, err := leftovers(path)
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("session: token store: removing leftover temporary file: %w", err)
		}
	}
	return err
}

func (f *familyFile) lease() Lease {
	if f.Lease == nil {
		return Lease{}
	}
	return Lease{Holder: f.Lease.Holder, Until: f.Lease.Until}
}

func (f *familyFile) family(now time.Time) Family {
	fam := Family{Pair: f.storedToken.token(), Generation: f.Generation, Now: now}
	if l := f.lease(); l.Held(now) {
		fam.Lease = l
	}
	if f.InFlight != nil {
		fam.InFlight = InFlight{Holder: f.InFlight.Holder, Generation: f.InFlight.Generation, At: f.InFlight.At}
	}
	return fam
}

func toStored(t Token) storedToken {
	return storedToken{AccessToken: string(t.Access), RefreshToken: string(t.Refresh),
		TokenType: t.Type, Issued: t.Issued.Round(0), Expiry: t.Expiry.Round(0), Scope: t.Scope, Extra: t.ExtraMembers()}
}

func (s storedToken) token() Token {
	return Token{Access: Secret(s.AccessToken), Refresh: Secret(s.RefreshToken), Type: s.TokenType,
		Issued: s.Issued, Expiry: s.Expiry, Scope: s.Scope, extra: newExtra(s.Extra)}
}
