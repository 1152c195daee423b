//go:build !amd64 || purego

package pow

// Without the amd64 assembly there is no SHA-NI kernel: Templates use the
// portable crypto/sha256 path.
const hasSHANI = false

const shaniLanes = 2

func scanSHANI(st *shaniState, start, step, iters, mask uint64) (idx uint64) {
	panic("pow: the SHA-NI kernel is not built on this platform")
}

func prefixSHANI(st *shaniState, start, step uint64) (p0, p1 uint64) {
	panic("pow: the SHA-NI kernel is not built on this platform")
}

func scanSHANIDetached(st *shaniState, start, step, iters, mask uint64) (idx uint64) {
	panic("pow: the SHA-NI kernel is not built on this platform")
}
