package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

// Differential tests of the SHA-NI kernel against crypto/sha256. They skip
// on CPUs without SHA extensions; the portable modes are tested there by
// pow_test.go, which runs every mode in allModes.

func requireSHANI(t testing.TB) {
	t.Helper()
	if !hasSHANI {
		t.Skip("CPU has no SHA extensions: the kernel is not used here")
	}
}

// prefixOf is the reference: the first 8 bytes of SHA-256 of h with nonce n.
func prefixOf(h chain.Header, n uint64) uint64 {
	h.SetNonce(n)
	sum := sha256.Sum256(h[:])
	return binary.BigEndian.Uint64(sum[:8])
}

// carryNonces sit where adding one carries across a byte, the 32-bit word
// boundary (W6/W7), the protocol's 2^53-1 cap and the 64-bit wrap.
var carryNonces = []uint64{
	0, 1, 0xfe, 0xff, 0x100, 0xfffe, 0xffff, 0x10000, 0xfffffe, 0xffffff,
	0xfffffffe, 0xffffffff, 0x100000000, 0x1ffffffff, 0xffffffffff,
	chain.MaxSafeInteger - 1, chain.MaxSafeInteger, chain.MaxSafeInteger + 1,
	^uint64(0) - 1, ^uint64(0),
}

// carrySteps include a step of 2^64-1, so lane 1 is lane 0 minus one.
var carrySteps = []uint64{1, 2, 3, 0xff, 0x100, 1 << 32, ^uint64(0)}

func TestKernelPrefixEveryLane(t *testing.T) {
	requireSHANI(t)
	r := rand.New(rand.NewPCG(7, 8))
	headers := []chain.Header{{}, benchHeader()}
	for range 20 {
		headers = append(headers, randomHeader(r))
	}
	for _, h := range headers {
		st := newSHANIState(&h)
		nonces := append([]uint64{r.Uint64(), r.Uint64N(chain.MaxSafeInteger)}, carryNonces...)
		for _, n := range nonces {
			for _, step := range carrySteps {
				p0, p1 := prefixSHANI(st, n, step)
				if want := prefixOf(h, n); p0 != want {
					t.Fatalf("header %x nonce %#x: lane 0 prefix %#016x, want %#016x", h, n, p0, want)
				}
				if want := prefixOf(h, n+step); p1 != want {
					t.Fatalf("header %x nonce %#x step %#x: lane 1 prefix %#016x, want %#016x", h, n, step, p1, want)
				}
			}
		}
	}
}

func TestKernelNonceFieldIgnored(t *testing.T) {
	// The template's header may carry any nonce: the kernel replaces it.
	requireSHANI(t)
	h := benchHeader()
	h.SetNonce(0x0123456789abcdef)
	p0, _ := prefixSHANI(newSHANIState(&h), 5, 1)
	if want := prefixOf(h, 5); p0 != want {
		t.Errorf("prefix %#016x, want %#016x", p0, want)
	}
}

func TestKernelSearchEveryDifficulty(t *testing.T) {
	// Difficulties 0..64 move the test bit by bit through the kernel's 8
	// bytes; 256 is the whole hash. Each must give brute force's answer,
	// from nonces that carry across words, with odd and even counts, run
	// as a system call (Detach) or not.
	requireSHANI(t)
	r := rand.New(rand.NewPCG(9, 10))
	difficulties := []uint32{256, 257}
	for d := uint32(0); d <= 64; d++ {
		difficulties = append(difficulties, d)
	}
	for _, d := range difficulties {
		for i, start := range carryNonces {
			h := randomHeader(r)
			step := carrySteps[i%len(carrySteps)]
			count := 64 + uint64(i)
			wn, wh, wf, wt := bruteForce(h, d, start, step, count)
			for _, detached := range []bool{false, true} {
				tp := newTemplate(h, d, modeSHANI)
				if detached {
					tp.Detach()
				}
				nonce, got, found, tried := tp.Search(start, step, count)
				if nonce != wn || got != wh || found != wf || tried != wt {
					t.Fatalf("d=%d header %x detached %v: Search(%#x, %#x, %d) = (%d, %s, %v, %d), want (%d, %s, %v, %d)",
						d, h, detached, start, step, count, nonce, got, found, tried, wn, wh, wf, wt)
				}
			}
		}
	}
}

// winners returns the positions (attempt indexes from 0) of the first
// winning nonces of h at difficulty d, enough to have both parities, so
// that winners fall in both of the kernel's lanes.
func winners(t *testing.T, h chain.Header, d uint32, start, step uint64) []uint64 {
	t.Helper()
	var pos []uint64
	var odd, even bool
	n := start
	for i := uint64(0); i < 1<<16 && !(odd && even && len(pos) >= 4); i++ {
		if chain.MeetsDifficulty(wantHash(h, n), d) {
			pos = append(pos, i)
			odd, even = odd || i%2 == 1, even || i%2 == 0
		}
		n += step
	}
	if !odd || !even {
		t.Fatalf("no winners of both parities within 2^16 nonces at d=%d", d)
	}
	return pos
}

func TestKernelWinnerAtBatchBoundaries(t *testing.T) {
	// A winner that is the last attempt of a Search is found; one just past
	// the last (which the kernel hashes when count is odd, as the unused
	// second lane) is neither reported nor counted; one that is the first
	// attempt of the next Search is found at once.
	requireSHANI(t)
	r := rand.New(rand.NewPCG(11, 12))
	const d = 5
	for range 8 {
		h := randomHeader(r)
		start, step := carryNonces[r.IntN(len(carryNonces))], carrySteps[r.IntN(len(carrySteps))]
		tmpl := newTemplate(h, d, modeSHANI)
		for _, p := range winners(t, h, d, start, step) {
			win := start + p*step
			for _, count := range []uint64{p, p + 1} {
				n, got, found, tried := tmpl.Search(start, step, count)
				wn, wh, wf, wt := bruteForce(h, d, start, step, count)
				if n != wn || got != wh || found != wf || tried != wt {
					t.Fatalf("winner at %d, count %d: (%#x, %s, %v, %d), want (%#x, %s, %v, %d)",
						p, count, n, got, found, tried, wn, wh, wf, wt)
				}
			}
			if n, _, found, tried := tmpl.Search(win, step, 7); !found || n != win || tried != 1 {
				t.Fatalf("from the winner %#x: (%#x, %v, %d), want (%#x, true, 1)", win, n, found, tried, win)
			}
		}
	}
}

func TestKernelWinnerJustPastCount(t *testing.T) {
	// The first winner at position p, with count p: nothing is found and
	// exactly p attempts are reported, whatever p's parity.
	requireSHANI(t)
	r := rand.New(rand.NewPCG(13, 14))
	const d = 6
	for range 8 {
		h := randomHeader(r)
		pos := winners(t, h, d, 0, 1)
		p := pos[0]
		if _, _, found, tried := newTemplate(h, d, modeSHANI).Search(0, 1, p); found || tried != p {
			t.Fatalf("first winner at %d, count %d: found %v tried %d, want false %d", p, p, found, tried, p)
		}
	}
}

func TestKernelHugeCount(t *testing.T) {
	// A count near 2^64 must not wrap when rounded up to whole pairs.
	requireSHANI(t)
	h := benchHeader()
	for _, count := range []uint64{^uint64(0), ^uint64(0) - 1} {
		n, got, found, tried := newTemplate(h, 4, modeSHANI).Search(0, 1, count)
		wn, wh, wf, wt := bruteForce(h, 4, 0, 1, 1<<12)
		if n != wn || got != wh || found != wf || tried != wt || !found {
			t.Errorf("count %#x: (%d, %s, %v, %d), want (%d, %s, %v, %d)", count, n, got, found, tried, wn, wh, wf, wt)
		}
	}
}

func TestKernelFalseCandidates(t *testing.T) {
	// Above 64 bits the kernel's 8-byte test lets through candidates that
	// fail the full rule; Search must confirm each and carry on after it.
	// A mask looser than the difficulty makes such candidates common.
	requireSHANI(t)
	r := rand.New(rand.NewPCG(15, 16))
	for range 20 {
		h := randomHeader(r)
		const d = 9
		tmpl := newTemplate(h, d, modeSHANI)
		tmpl.prefix = prefixMask(3)
		start, step := r.Uint64N(chain.MaxSafeInteger), 1+r.Uint64N(5)
		count := 1 + r.Uint64N(3000)
		nonce, got, found, tried := tmpl.Search(start, step, count)
		wn, wh, wf, wt := bruteForce(h, d, start, step, count)
		if nonce != wn || got != wh || found != wf || tried != wt {
			t.Fatalf("Search(%d, %d, %d) = (%d, %s, %v, %d), want (%d, %s, %v, %d)",
				start, step, count, nonce, got, found, tried, wn, wh, wf, wt)
		}
	}
}

func FuzzKernel(f *testing.F) {
	f.Add(make([]byte, chain.HeaderSize), uint64(0), uint64(1), uint8(0), uint16(10))
	f.Add([]byte("meshchain"), uint64(chain.MaxSafeInteger), uint64(1), uint8(3), uint16(33))
	f.Add(make([]byte, 200), uint64(0xffffffff), uint64(1<<32), uint8(8), uint16(1))
	f.Add([]byte{0xff, 0xff}, ^uint64(0), ^uint64(0), uint8(2), uint16(0))
	f.Fuzz(func(t *testing.T, raw []byte, nonce, step uint64, d uint8, count uint16) {
		requireSHANI(t)
		var h chain.Header
		copy(h[:], raw)
		p0, p1 := prefixSHANI(newSHANIState(&h), nonce, step)
		if want := prefixOf(h, nonce); p0 != want {
			t.Fatalf("lane 0: header %x nonce %#x: %#016x, want %#016x", h, nonce, p0, want)
		}
		if want := prefixOf(h, nonce+step); p1 != want {
			t.Fatalf("lane 1: header %x nonce %#x step %#x: %#016x, want %#016x", h, nonce+step, step, p1, want)
		}
		diff, n := uint32(d%12), uint64(count%512)
		if d >= 250 {
			diff = 256
		}
		gn, gh, gf, gt := newTemplate(h, diff, modeSHANI).Search(nonce, step, n)
		wn, wh, wf, wt := bruteForce(h, diff, nonce, step, n)
		if gn != wn || gh != wh || gf != wf || gt != wt {
			t.Fatalf("d=%d Search(%#x, %#x, %d) = (%d, %s, %v, %d), want (%d, %s, %v, %d)",
				diff, nonce, step, n, gn, gh, gf, gt, wn, wh, wf, wt)
		}
	})
}
