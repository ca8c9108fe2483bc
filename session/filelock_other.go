//go:build !unix

package session

import (
	"context"
	"errors"
)

// lockFile is not available here: FileCoordinator needs flock.
func lockFile(context.Context, string) (func(), error) {
	return nil, errors.New("session: file coordinator: file locks are not supported on this platform")
}
