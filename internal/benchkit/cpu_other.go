//go:build !unix

package benchkit

import "time"

// CPUTime returns the CPU time the process has used so far; ok is false
// where the system does not say, as here.
func CPUTime() (d time.Duration, ok bool) { return 0, false }
