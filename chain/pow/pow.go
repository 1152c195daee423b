// Package pow is meshchain's mining kernel: given a block header it searches
// nonces for a hash with the required leading zero bits (PROTOCOL.md section
// 1), spending one SHA-256 compression per attempt.
//
// Bytes 0..63 of the 96-byte header do not depend on the nonce, so
// NewTemplate hashes them once and keeps the SHA-256 state (the midstate).
// Each attempt then restores that state and compresses the last 64-byte
// block: header bytes 64..95, with the nonce at 88..95, followed by the
// padding of a 96-byte message, which is constant.
//
// Only crypto/sha256's public API is used, so its assembly (SHA-NI, AVX2)
// does the compression: the midstate is restored with UnmarshalBinary and,
// after the final block has been written whole, the digest is read back from
// AppendBinary, whose state words are the digest once the padding has been
// hashed. That skips Sum's copy of the hash and its padding writes. A
// self-check at start-up falls back to Write+Sum, and then to a full
// sha256.Sum256 per attempt, should a future crypto/sha256 change either.
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
	if m == modeFull {
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
	if t.mode == modeFull {
		return &c
	}
	sh := sha256.New().(stateHash)
	if err := sh.UnmarshalBinary(t.mid); err != nil {
		panic("pow: restoring the SHA-256 midstate: " + err.Error())
	}
	c.h = sh
	return &c
}

// Search tries nonces start, start+step, start+2*step, ... (wrapping at
// 2^64) for at most count attempts. It returns the first nonce whose header
// hash meets the difficulty, with that hash, and how many attempts it made,
// the winning one included. Callers keep nonces within chain.MaxSafeInteger.
func (t *Template) Search(start, step, count uint64) (nonce uint64, hash chain.Hash, found bool, tried uint64) {
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
	default:
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

// detectMode picks the fastest mode whose hashes match sha256.Sum256 on
// this build of crypto/sha256.
func detectMode() mode {
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
