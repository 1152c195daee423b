package pow

import (
	"encoding/binary"

	"github.com/meshchain/meshchain/chain"
)

// shaniState is what the SHA-NI kernel (kernel_amd64.s) reads: everything
// about the second block of a header that does not depend on the nonce,
// computed once per template. Words are in the kernel's register order:
// message groups as W[4k..4k+3] in lanes 0..3, hash state as the SHA
// extensions keep it (ABEF = F, E, B, A and CDGH = H, G, D, C in lanes
// 0..3). It is read-only once built, so clones of a Template share it.
type shaniState struct {
	abef, cdgh [4]uint32 // working state after rounds 0..5 of block 2
	g1         [4]uint32 // W4, W5 and zeros, where the nonce goes
	wk2        [4]uint32 // W8..W11 + K8..K11: rounds 8..11 do not depend on the nonce
	wk3        [4]uint32 // W12..W15 + K12..K15
	wk4        [4]uint32 // W16..W19 + K16..K19: built from W0..W4 and W9..W15, never W6 or W7
	c2         [4]uint32 // W8..W11, for MSG1(group 1, group 2)
	pal5       [4]uint32 // W13..W16, the W[i-7] terms of group 5
	c4         [4]uint32 // W16..W19 (group 4)
	m23        [4]uint32 // MSG1(group 2, group 3): W[i-16] + sigma0(W[i-15]) for W24..W27
	m34        [4]uint32 // MSG1(group 3, group 4) for W28..W31
	midABEF    [4]uint32 // the midstate's A, B, E, F, added to the final state
	k          [16][4]uint32
}

// newSHANIState folds header h's nonce-independent work: the midstate of
// bytes 0..63, the second block's constant words and rounds 0..5.
func newSHANIState(h *chain.Header) *shaniState {
	var b1 [64]byte
	copy(b1[:], h[:midstateBytes])
	mid := compress(sha256IV, &b1)

	var b2 [64]byte // header bytes 64..95, nonce zero, then the padding
	copy(b2[:], h[midstateBytes:nonceOffset])
	b2[chain.HeaderSize-midstateBytes] = 0x80
	binary.BigEndian.PutUint64(b2[56:], chain.HeaderSize*8)
	w := schedule(&b2) // words 6, 7 and from 21 on are wrong: they depend on the nonce
	s := rounds(mid, &w, 6)

	st := &shaniState{
		abef:    [4]uint32{s[5], s[4], s[1], s[0]},
		cdgh:    [4]uint32{s[7], s[6], s[3], s[2]},
		g1:      [4]uint32{w[4], w[5], 0, 0},
		c2:      [4]uint32{w[8], w[9], w[10], w[11]},
		pal5:    [4]uint32{w[13], w[14], w[15], w[16]},
		c4:      [4]uint32{w[16], w[17], w[18], w[19]},
		midABEF: [4]uint32{mid[5], mid[4], mid[1], mid[0]},
	}
	for i := 0; i < 4; i++ {
		st.wk2[i] = w[8+i] + sha256K[8+i]
		st.wk3[i] = w[12+i] + sha256K[12+i]
		st.wk4[i] = w[16+i] + sha256K[16+i]
		st.m23[i] = w[8+i] + sigma0(w[9+i])
		st.m34[i] = w[12+i] + sigma0(w[13+i])
	}
	for g := range st.k {
		copy(st.k[g][:], sha256K[4*g:])
	}
	return st
}
