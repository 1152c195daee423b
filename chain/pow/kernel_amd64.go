//go:build amd64 && !purego

package pow

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen_kernel.go -out kernel_amd64.s

// hasSHANI reports whether this CPU runs the SHA-NI kernel: SHA extensions
// for the rounds and message schedule, SSE4.1 and SSSE3 for the inserts
// and extracts, AVX (with OS support, which x/sys/cpu checks) for the
// three-operand moves and unaligned loads. x/sys/cpu has no SHA flag on x86,
// so that bit comes from CPUID leaf 7 directly.
var hasSHANI = func() bool {
	if !cpu.X86.HasAVX || !cpu.X86.HasSSE41 || !cpu.X86.HasSSSE3 {
		return false
	}
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<29) != 0
}()

// cpuid executes CPUID with EAX=leaf and ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// scanSHANI hashes nonces start, start+step, ... two per iteration, for
// iters iterations (2*iters nonces, wrapping at 2^64), and returns the
// first iteration in which either nonce's hash has its first 8 bytes
// (big-endian) zero under mask, or iters if none did. Only the first 8
// bytes are computed; the caller confirms a hit.
//
//go:noescape
func scanSHANI(st *shaniState, start, step, iters, mask uint64) (idx uint64)

// prefixSHANI runs one iteration of scanSHANI's code on nonces start and
// start+step and returns each one's first 8 digest bytes (big-endian): a
// window into the kernel for tests.
//
//go:noescape
func prefixSHANI(st *shaniState, start, step uint64) (p0, p1 uint64)

// shaniLanes is how many nonces scanSHANI hashes per iteration.
const shaniLanes = 2

func init() {
	// gen_kernel.go writes these offsets into the assembly.
	var s shaniState
	for _, c := range []struct {
		off  uintptr
		want uintptr
	}{
		{unsafe.Offsetof(s.abef), 0}, {unsafe.Offsetof(s.cdgh), 16}, {unsafe.Offsetof(s.g1), 32},
		{unsafe.Offsetof(s.wk2), 48}, {unsafe.Offsetof(s.wk3), 64}, {unsafe.Offsetof(s.wk4), 80},
		{unsafe.Offsetof(s.c2), 96}, {unsafe.Offsetof(s.pal5), 112}, {unsafe.Offsetof(s.c4), 128},
		{unsafe.Offsetof(s.m23), 144}, {unsafe.Offsetof(s.m34), 160}, {unsafe.Offsetof(s.midABEF), 176},
		{unsafe.Offsetof(s.k), 192},
	} {
		if c.off != c.want {
			panic("pow: shaniState layout does not match kernel_amd64.s; run go generate")
		}
	}
}
