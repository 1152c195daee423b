//go:build amd64 && !purego

package pow

import (
	_ "unsafe" // go:linkname
)

// entersyscall and exitsyscall are the Go runtime's bracket around a
// system call, as syscall.Syscall uses them (the runtime marks both for
// linkname use outside it). Between them the goroutine must not grow its
// stack, allocate or write pointers: scanSHANI, NOSPLIT with no frame,
// reads the pointer-free shaniState and returns a number.
//
//go:linkname entersyscall runtime.entersyscall
func entersyscall()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// scanSHANIDetached is scanSHANI run as the runtime runs a system call.
// st stays reachable from the caller's Template across the call.
//
//go:nosplit
//go:norace
func scanSHANIDetached(st *shaniState, start, step, iters, mask uint64) (idx uint64) {
	entersyscall()
	idx = scanSHANI(st, start, step, iters, mask)
	exitsyscall()
	return idx
}
