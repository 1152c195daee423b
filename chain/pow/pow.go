// Package pow is meshchain's mining kernel: given a block header it searches
// nonces for a hash with the required leading zero bits (PROTOCOL.md section
// 1), spending at most one SHA-256 compression per attempt.
//
// Bytes 0..63 of the 96-byte header do not depend on the nonce, so
// NewTemplate hashes them once and keeps the SHA-256 state (the midstate).
// Each attempt then compresses only the last 64-byte block: header bytes
// 64..95, with the nonce at 88..95, followed by the padding of a 96-byte
// message, which is constant.
//
// On amd64 with SHA extensions (modeSHANI) an assembly kernel goes further:
// the nonce is message words 6 and 7 of that block, so rounds 0..5 and the
// message-schedule terms built only from other words are computed once per
// template; the kernel hashes two nonces interleaved (one stream alone waits
// on the latency of the round instruction), loops over a whole batch
// without returning to Go, and computes only the digest's first 8 bytes,
// which decide the difficulty test for up to 64 bits. Go confirms each
// candidate with crypto/sha256 before reporting it.
//
// Elsewhere, and as the fallback, only crypto/sha256's public API is used,
// so its assembly (SHA-NI, AVX2) does the compression: the midstate is
// restored with UnmarshalBinary and, after the final block has been written
// whole, the digest is read back from AppendBinary, whose state words are
// the digest once the padding has been hashed. That skips Sum's copy of the
// hash and its padding writes. A self-check at start-up falls back to
// Write+Sum, and then to a full sha256.Sum256 per attempt, should a future
// crypto/sha256 change either.
//
// The package is pure: no goroutines, no clock, no I/O. A Template is used
// by one goroutine at a time; a miner running on several goroutines gives
// each one its own Clone and its own nonce sequence (start i, step n).
package pow

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"

	"github.com/meshchain/meshchain/chain"
)

// Header offsets from PROTOCOL.md section 1.
const (
	midstateBytes = 64                            // header bytes 0..63: hashed once per template
	nonceOffset   = 88                            // u64 big-endian nonce: header bytes 88..95
	maxDifficulty = uint32(8 * len(chain.Hash{})) // every bit of the hash zero
)

// mode is how a Template turns a nonce into a hash.
type mode int

const (
	// modeReadout restores the midstate, writes the whole final block and
	// reads the digest from the marshalled state: one compression.
	modeReadout mode = iota
	// modeSum restores the midstate, writes header bytes 64..95 and calls
	// Sum: one compression, plus Sum's copying and padding.
	modeSum
	// modeFull hashes all 96 bytes with sha256.Sum256: two compressions.
	modeFull
	// modeSHANI runs the assembly kernel (kernel_amd64.s): two nonces at a
	// time, rounds 0..5 skipped, only the first 8 bytes of each digest.
	modeSHANI
)

// stateHash is what modeReadout and modeSum need from crypto/sha256's digest.
type stateHash interface {
	hash.Hash
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// readoutDigest is where the digest sits in crypto/sha256's marshalled state:
// a 4-byte magic, then the eight state words big-endian. Once the padding
// has been hashed those words are the digest.
const (
	readoutStart = 4
	readoutEnd   = readoutStart + len(chain.Hash{})
	marshalCap   = 128 // marshalled state is 108 bytes in Go 1.26
)

// bestMode is the fastest mode that passed the start-up self-check.
var bestMode = detectMode()

// portableMode is the fastest crypto/sha256 mode that passed the self-check:
// bestMode when the CPU has no SHA extensions.
var portableMode = detectPortableMode()

// Template is one block header being mined at one difficulty. It holds the
// midstate and reusable buffers, so Search does not allocate. A Template
// must not be used by two goroutines at once: use Clone.
type Template struct {
	difficulty uint32
	// prefix masks the hash's first 8 bytes (big-endian): a hash whose
	// masked prefix is not zero cannot meet the difficulty. Only hashes
	// that pass go on to the full rule.
	prefix uint64
	mode   mode
	header chain.Header // modeFull hashes it whole; others keep it for Clone
	h      stateHash    // nil in modeFull
	mid    []byte       // marshalled state after bytes 0..63; shared by clones, never written
	final  [64]byte     // header bytes 64..95, then the padding of a 96-byte message
	out    []byte       // reused buffer for AppendBinary or Sum
	shani  *shaniState  // modeSHANI only; shared by clones, never written
	// detached runs the assembly kernel as a system call (Detach).
	detached bool
}

// NewTemplate precomputes the midstate of header h for mining at the given
// difficulty (leading zero bits). The header is hashed as given, including
// its own difficulty field; its nonce field is ignored. A difficulty above
// 256 can never be met.
func NewTemplate(h chain.Header, difficulty uint32) *Template {
	return newTemplate(h, difficulty, bestMode)
}

func newTemplate(h chain.Header, difficulty uint32, m mode) *Template {
	t := &Template{difficulty: difficulty, prefix: prefixMask(difficulty), mode: m, header: h,
		out: make([]byte, 0, marshalCap)}
	copy(t.final[:], h[midstateBytes:])
	t.final[chain.HeaderSize-midstateBytes] = 0x80 // padding: a 1 bit, zeros, then the length
	binary.BigEndian.PutUint64(t.final[56:], chain.HeaderSize*8)
	switch m {
	case modeFull:
		return t
	case modeSHANI:
		t.shani = newSHANIState(&h)
		return t
	}
	sh, ok := sha256.New().(stateHash)
	if !ok {
		panic("pow: crypto/sha256 digest cannot be marshalled; mode should have been modeFull")
	}
	sh.Write(h[:midstateBytes])
	mid, err := sh.AppendBinary(make([]byte, 0, marshalCap))
	if err != nil {
		panic("pow: marshalling the SHA-256 midstate: " + err.Error())
	}
	t.h, t.mid = sh, mid
	return t
}

// Clone returns a Template for the same header and difficulty with its own
// hash state and buffers, for use on another goroutine. It is cheaper than
// NewTemplate: the midstate is shared, not recomputed.
func (t *Template) Clone() *Template {
	c := *t
	c.out = make([]byte, 0, marshalCap)
	if t.mode == modeFull || t.mode == modeSHANI {
		return &c
	}
	sh := sha256.New().(stateHash)
	if err := sh.UnmarshalBinary(t.mid); err != nil {
		panic("pow: restoring the SHA-256 midstate: " + err.Error())
	}
	c.h = sh
	return &c
}

// Detach makes Search run the assembly kernel (modeSHANI; other modes are
// Go code and unchanged) the way the Go runtime runs a system call: for
// the runtime the goroutine is outside Go while it hashes, so a
// stop-the-world (each garbage collection has two) does not wait for it,
// and its P can go to other goroutines. Without this a collection waits
// for every search to reach the end of its batch, since assembly cannot
// be preempted; and a search on a thread the OS has descheduled, as a
// miner at a low priority on a busy machine is, reaches it only when the
// OS runs that thread again: stops of 20 to 30 ms measured while mining
// on 2 busy cores, which stall every goroutine, the dashboard's too.
// The price is two runtime calls per kernel call, nothing against a
// miner's batches of thousands of attempts.
func (t *Template) Detach() { t.detached = true }

// Search tries nonces start, start+step, start+2*step, ... (wrapping at
// 2^64) for at most count attempts. It returns the first nonce whose header
// hash meets the difficulty, with that hash, and how many attempts it made,
// the winning one included. Callers keep nonces within chain.MaxSafeInteger.
func (t *Template) Search(start, step, count uint64) (nonce uint64, hash chain.Hash, found bool, tried uint64) {
	if t.mode == modeSHANI {
		return t.searchSHANI(start, step, count)
	}
	n := start
	for tried < count {
		tried++
		sum := t.attempt(n)
		if binary.BigEndian.Uint64(sum)&t.prefix == 0 {
			copy(hash[:], sum)
			if t.meets(hash) {
				return n, hash, true, tried
			}
		}
		n += step
	}
	return 0, chain.Hash{}, false, tried
}

// searchSHANI is Search on the assembly kernel. The kernel stops at the
// first pair of nonces with a candidate; each candidate in the pair is
// hashed again with crypto/sha256, in nonce order, and the scan resumes
// after the pair when neither meets the difficulty (possible only above 64
// bits, where the kernel's 8-byte test is necessary but not sufficient).
// When count is odd the last pair's second nonce is hashed but never
// reported or counted.
func (t *Template) searchSHANI(start, step, count uint64) (nonce uint64, hash chain.Hash, found bool, tried uint64) {
	n := start
	for tried < count {
		iters := (count-tried-1)/shaniLanes + 1 // rounded up; count-tried+1 could wrap
		var idx uint64
		if t.detached {
			idx = scanSHANIDetached(t.shani, n, step, iters, t.prefix)
		} else {
			idx = scanSHANI(t.shani, n, step, iters, t.prefix)
		}
		if idx == iters {
			return 0, chain.Hash{}, false, count
		}
		tried += idx * shaniLanes
		n += idx * shaniLanes * step
		for lane := 0; lane < shaniLanes && tried < count; lane++ {
			tried++
			t.header.SetNonce(n)
			if h := chain.Hash(sha256.Sum256(t.header[:])); t.meets(h) {
				return n, h, true, tried
			}
			n += step
		}
	}
	return 0, chain.Hash{}, false, tried
}

// attempt returns the 32-byte hash of the header with the given nonce. The
// slice aliases t's buffers and is valid until the next call.
func (t *Template) attempt(nonce uint64) []byte {
	switch t.mode {
	case modeReadout:
		binary.BigEndian.PutUint64(t.final[nonceOffset-midstateBytes:], nonce)
		t.restore()
		t.h.Write(t.final[:]) // a whole block: compressed in place, no copy
		out, err := t.h.AppendBinary(t.out[:0])
		if err != nil {
			panic("pow: marshalling the SHA-256 state: " + err.Error())
		}
		return out[readoutStart:readoutEnd]
	case modeSum:
		binary.BigEndian.PutUint64(t.final[nonceOffset-midstateBytes:], nonce)
		t.restore()
		t.h.Write(t.final[:chain.HeaderSize-midstateBytes])
		return t.h.Sum(t.out[:0])
	default: // modeFull; modeSHANI only confirms candidates this way
		t.header.SetNonce(nonce)
		sum := sha256.Sum256(t.header[:])
		return append(t.out[:0], sum[:]...)
	}
}

// restore puts the hash back to the state after header bytes 0..63.
func (t *Template) restore() {
	if err := t.h.UnmarshalBinary(t.mid); err != nil {
		panic("pow: restoring the SHA-256 midstate: " + err.Error()) // t.mid came from the same hash
	}
}

// meets applies the full difficulty rule to a candidate.
func (t *Template) meets(h chain.Hash) bool {
	return t.difficulty <= maxDifficulty && chain.MeetsDifficulty(h, t.difficulty)
}

// prefixMask has the top min(d, 64) bits set.
func prefixMask(d uint32) uint64 {
	if d >= 64 {
		return ^uint64(0)
	}
	return ^(^uint64(0) >> d)
}

// detectMode picks the fastest mode whose hashes match sha256.Sum256: the
// SHA-NI kernel when the CPU has it and it passes, else the portable one.
func detectMode() mode {
	if hasSHANI && selfCheckSHANI() {
		return modeSHANI
	}
	return detectPortableMode()
}

// selfCheckSHANI reports whether the kernel finds exactly the nonces a
// plain hash finds, on a fixed header at a difficulty with many winners.
func selfCheckSHANI() bool {
	var h chain.Header
	for i := range h {
		h[i] = byte(i*53 + 7)
	}
	const d = 6
	k := newTemplate(h, d, modeSHANI)
	p := newTemplate(h, d, modeFull)
	for start := uint64(0); start < 512; {
		n1, h1, f1, t1 := k.Search(start, 1, 512-start)
		n2, h2, f2, t2 := p.Search(start, 1, 512-start)
		if n1 != n2 || h1 != h2 || f1 != f2 || t1 != t2 {
			return false
		}
		if !f1 {
			return true
		}
		start += t1
	}
	return true
}

// detectPortableMode picks the fastest crypto/sha256 mode whose hashes match
// sha256.Sum256 on this build of crypto/sha256.
func detectPortableMode() mode {
	if _, ok := sha256.New().(stateHash); !ok {
		return modeFull
	}
	var h chain.Header
	for i := range h {
		h[i] = byte(i*37 + 11)
	}
	for _, m := range []mode{modeReadout, modeSum} {
		if selfCheck(h, m) {
			return m
		}
	}
	return modeFull
}

// selfCheck reports whether mode m hashes header h like sha256.Sum256 for a
// few nonces.
func selfCheck(h chain.Header, m mode) bool {
	t := newTemplate(h, 0, m)
	for _, n := range []uint64{0, 1, 0x0102030405060708, chain.MaxSafeInteger, ^uint64(0)} {
		h.SetNonce(n)
		want := sha256.Sum256(h[:])
		if !bytes.Equal(t.attempt(n), want[:]) {
			return false
		}
	}
	return true
}
