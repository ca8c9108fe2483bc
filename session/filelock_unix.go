//go:build unix

package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// fileLocks reports whether token files can be locked here (flock).
const fileLocks = true

// lockPollMax bounds the pause between two tries of a busy lock.
const lockPollMax = 50 * time.Millisecond

// lockBusy counts the tries of lockFile that found the lock held (the
// contention that the tests of a family's refreshes measure).
var lockBusy atomic.Int64

// lockFile takes an exclusive advisory lock (flock) on path, creating it
// with mode 0600, and returns the function that releases it. It never
// blocks in the kernel: it tries a non-blocking lock, and while another
// process holds it tries again after a pause that doubles from 1 ms to
// lockPollMax (±20 % jitter), until ctx ends or limit (when positive)
// passes, and then fails with ErrLocked. what prefixes its errors.
func lockFile(ctx context.Context, path, what string, limit time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	start := time.Now()
	var expired <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expired = t.C
	}
	pause := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("%s: locking %s: %w", what, path, err)
		}
		lockBusy.Add(1)
		t := time.NewTimer(time.Duration(float64(pause) * (0.8 + 0.4*rand.Float64())))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, &lockError{what: what, path: path, waited: time.Since(start), cause: ctx.Err()}
		case <-expired:
			t.Stop()
			f.Close()
			return nil, &lockError{what: what, path: path, waited: limit}
		case <-t.C:
		}
		pause = min(2*pause, lockPollMax)
	}
}

// tryLockFile takes the lock on path if nobody holds it, and reports
// whether it did; it never waits. It does not create path's directory.
func tryLockFile(path string) (func(), bool) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, true
}
