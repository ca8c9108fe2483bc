//go:build unix

package benchkit

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time the process has used so far, user and
// system, on every thread (the garbage collector's included); ok is false
// where the system does not say.
func CPUTime() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
