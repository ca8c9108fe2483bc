//go:build !unix

package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// fileLocks reports whether token files can be locked here: not without
// flock. A FileStore then serialises only its own Loads and Saves, and a
// FileCoordinator fails every operation.
const fileLocks = false

// lockFile is not available here: FileCoordinator needs flock.
func lockFile(_ context.Context, _, what string, _ time.Duration) (func(), error) {
	return nil, fmt.Errorf("%s: %w", what, errors.New("file locks are not supported on this platform"))
}

// tryLockFile reports success without a lock: where files cannot be
// locked, a FileStore's own mutex is all there is.
func tryLockFile(string) (func(), bool) { return func() {}, true }
