package sim

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks Linux to back the memory of s with huge pages: a large
// fleet's sessions are read at random, and with 4 KiB pages nearly every
// read also misses the TLB. It is advice: an error changes nothing.
func adviseHuge[T any](s []T) {
	size := uintptr(len(s)) * unsafe.Sizeof(*new(T))
	if size < 4<<20 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size)
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
}
