package sim

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks Linux to back the memory of s with huge pages: a large
// fleet's sessions are read at random, and with 4 KiB pages nearly every
// read also misses the TLB (a million sessions' day: about a fifth of its
// time). It is advice, given only for arrays of 4 MiB or more: an error
// changes nothing, and where transparent huge pages are off it is ignored.
// The Go runtime no longer gives it for its own heap because a compaction
// at a page fault can stall a latency-sensitive server; a simulation run is
// a batch job, and asks for it only for the arrays that pay it back.
func adviseHuge[T any](s []T) {
	size := uintptr(len(s)) * unsafe.Sizeof(*new(T))
	if size < 4<<20 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size)
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
}
