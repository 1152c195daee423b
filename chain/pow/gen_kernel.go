//go:build ignore

// gen_kernel writes kernel_amd64.s, the SHA-NI mining kernel, so that the
// two interleaved lanes and the constant folding of the first rounds are
// written once, in Go, rather than unrolled by hand. Run it with
// `go generate ./chain/pow/`; the output is committed.
//
// The kernel hashes the second block of a 96-byte header (bytes 64..95 and
// the padding) for two nonces at a time. The words that do not depend on the
// nonce were folded in by the Go side (kernel_amd64.go, shaniState): the
// state after rounds 0..5, W+K for rounds 8..19, and the message-schedule
// terms built only from constant words. Per attempt it computes only the
// first two words of the digest (A and B plus the midstate) and tests them
// against the difficulty mask; Go confirms a candidate with crypto/sha256.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
)

// Offsets into shaniState; kernel_amd64.go checks them with unsafe.Offsetof.
const (
	offABEF    = 0
	offCDGH    = 16
	offG1      = 32
	offWK2     = 48
	offWK3     = 64
	offWK4     = 80
	offC2      = 96
	offPal5    = 112
	offC4      = 128
	offM23     = 144
	offM34     = 160
	offMidABEF = 176
	offK       = 192 // 16 groups of 4 round constants
)

// lanes is 2 because two independent chains of SHA256RNDS2 already fill
// the SHA unit: on the AMD EPYC this was measured on, 3, 4 or 6 chains ran
// no faster per instruction than 2 (0.41-0.52 of one chain's time per
// instruction against 0.42 for two), and two lanes fit the 16 registers
// the SHA instructions can address.
const lanes = 2

// lane is one nonce's registers: the two state halves (whose roles swap
// after every SHA256RNDS2), four message-schedule slots (group k lives in
// slot k%4) and a temporary holding this group's W+K.
type lane struct {
	abef, cdgh string
	g          [4]string
	wk         string
}

var (
	out bytes.Buffer
	ls  [lanes]lane

	initialLanes = [lanes]lane{
		{abef: "X1", cdgh: "X2", g: [4]string{"X3", "X4", "X5", "X6"}, wk: "X7"},
		{abef: "X8", cdgh: "X9", g: [4]string{"X10", "X11", "X12", "X13"}, wk: "X14"},
	}
)

const tmp = "X15" // palignr scratch, used and consumed at once

func emit(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }

// each emits f for every lane in turn: the lanes are independent, so
// their instructions interleave and the round latency of one hides behind
// the other.
func each(f func(l *lane)) {
	for i := range ls {
		f(&ls[i])
	}
}

// rnds2 runs two rounds with W+K in X0's low half and swaps the roles of the
// state registers: the destination now holds the new A, B, E, F.
func rnds2(l *lane) {
	emit("SHA256RNDS2 X0, %s, %s", l.abef, l.cdgh)
	l.abef, l.cdgh = l.cdgh, l.abef
}

// constRounds runs four rounds whose W+K was precomputed at off.
func constRounds(off int) {
	each(func(l *lane) {
		emit("MOVQ %d(DI), X0", off)
		rnds2(l)
	})
	each(func(l *lane) {
		emit("MOVQ %d(DI), X0", off+8)
		rnds2(l)
	})
}

// groupRounds runs the four rounds of message group k from slot k%4.
func groupRounds(k int) {
	each(func(l *lane) { emit("VPADDD %d(DI), %s, %s", offK+16*k, l.g[k%4], l.wk) })
	each(func(l *lane) {
		emit("VMOVDQA %s, X0", l.wk)
		rnds2(l)
	})
	each(func(l *lane) {
		emit("VPSHUFD $0x0e, %s, X0", l.wk)
		rnds2(l)
	})
}

// nextGroup computes message group k (k >= 8) into slot k%4 from groups
// k-4..k-1 held in the other slots.
func nextGroup(k int) {
	each(func(l *lane) {
		g := func(j int) string { return l.g[j%4] }
		emit("SHA256MSG1 %s, %s", g(k-3), g(k-4))
		emit("VPALIGNR $4, %s, %s, %s", g(k-2), g(k-1), tmp)
		emit("VPADDD %s, %s, %s", tmp, g(k-4), g(k-4))
		emit("SHA256MSG2 %s, %s", g(k-1), g(k))
	})
}

// attempts hashes lane i's nonce SI + i*BX from the state in DI and leaves
// each lane's digest words A and B plus the midstate's (A<<32 | B) in
// the top quadword of its ABEF register.
func attempts() {
	ls = initialLanes
	// Rounds 0..5 are done: start from the state after them. Message group
	// 1 is W4, W5 and the nonce (W6 its high word, W7 its low word).
	for i := range ls {
		l := &ls[i]
		if i == 0 {
			emit("MOVQ SI, R10")
		} else {
			emit("LEAQ (SI)(BX*%d), R10", i)
		}
		emit("RORQ $32, R10")
		emit("VMOVDQU %d(DI), %s", offG1, l.g[1])
		emit("PINSRQ $1, R10, %s", l.g[1])
		emit("VMOVDQU %d(DI), %s", offABEF, l.abef)
		emit("VMOVDQU %d(DI), %s", offCDGH, l.cdgh)
	}
	// Rounds 6, 7: the upper half of group 1 plus K4..K7.
	each(func(l *lane) {
		emit("VPADDD %d(DI), %s, %s", offK+16, l.g[1], l.wk)
		emit("VPSHUFD $0x0e, %s, X0", l.wk)
		rnds2(l)
	})
	// Group 5 = MSG2(MSG1(G1, G2) + (W13..W16), G4): only G1 varies.
	each(func(l *lane) {
		emit("VMOVDQU %d(DI), %s", offC2, l.g[2])
		emit("SHA256MSG1 %s, %s", l.g[2], l.g[1])
		emit("VPADDD %d(DI), %s, %s", offPal5, l.g[1], l.g[1])
		emit("VMOVDQU %d(DI), %s", offC4, l.g[0])
		emit("SHA256MSG2 %s, %s", l.g[0], l.g[1])
	})
	constRounds(offWK2) // rounds 8..11
	// Group 6 = MSG2(MSG1(G2, G3) + (W17..W20), G5), MSG1(G2, G3) constant.
	each(func(l *lane) {
		emit("VPALIGNR $4, %s, %s, %s", l.g[0], l.g[1], tmp)
		emit("VPADDD %d(DI), %s, %s", offM23, tmp, l.g[2])
		emit("SHA256MSG2 %s, %s", l.g[1], l.g[2])
	})
	constRounds(offWK3) // rounds 12..15
	// Group 7 = MSG2(MSG1(G3, G4) + (W21..W24), G6), MSG1(G3, G4) constant.
	each(func(l *lane) {
		emit("VPALIGNR $4, %s, %s, %s", l.g[1], l.g[2], tmp)
		emit("VPADDD %d(DI), %s, %s", offM34, tmp, l.g[3])
		emit("SHA256MSG2 %s, %s", l.g[2], l.g[3])
	})
	constRounds(offWK4) // rounds 16..19
	for k := 5; k < 16; k++ {
		if k+3 < 16 {
			nextGroup(k + 3)
		}
		groupRounds(k)
	}
	// Digest words 0 and 1 are A and B plus the midstate's; ABEF holds them
	// in its top quadword as A<<32 | B, the hash's first 8 bytes big-endian.
	each(func(l *lane) {
		emit("VPADDD %d(DI), %s, %s", offMidABEF, l.abef, l.abef)
	})
}

func main() {
	path := flag.String("out", "kernel_amd64.s", "output file")
	flag.Parse()

	fmt.Fprintf(&out, "// Code generated by gen_kernel.go; DO NOT EDIT.\n\n")
	fmt.Fprintf(&out, "//go:build amd64 && !purego\n\n#include \"textflag.h\"\n\n")
	fmt.Fprintf(&out, "// func scanSHANI(st *shaniState, start, step, iters, mask uint64) (idx uint64)\n")
	fmt.Fprintf(&out, "// Requires: AVX, SHA, SSE4.1, SSSE3\n")
	fmt.Fprintf(&out, "TEXT ·scanSHANI(SB), NOSPLIT, $0-48\n")
	emit("MOVQ st+0(FP), DI")
	emit("MOVQ start+8(FP), SI") // lane 0's nonce; lane i's is SI + i*step
	emit("MOVQ step+16(FP), BX")
	emit("MOVQ iters+24(FP), CX")
	emit("MOVQ mask+32(FP), DX")
	emit("LEAQ (BX)(BX*1), R8") // the nonce advance per iteration: lanes*step
	emit("XORQ R9, R9")         // iterations done
	fmt.Fprintf(&out, "\nloop:\n")
	emit("CMPQ R9, CX")
	emit("JAE none")

	attempts()
	for i := range ls {
		emit("PEXTRQ $1, %s, R%d", ls[i].abef, 10+i)
		emit("TESTQ DX, R%d", 10+i)
		emit("JZ hit")
	}
	emit("ADDQ R8, SI")
	emit("INCQ R9")
	emit("JMP loop")
	fmt.Fprintf(&out, "\nhit:\n")
	emit("MOVQ R9, idx+40(FP)")
	emit("RET")
	fmt.Fprintf(&out, "\nnone:\n")
	emit("MOVQ CX, idx+40(FP)")
	emit("RET")

	// prefixSHANI is one iteration of the same code that returns both
	// lanes' first 8 bytes, so tests can compare every lane with
	// crypto/sha256 without needing a winning nonce.
	fmt.Fprintf(&out, "\n// func prefixSHANI(st *shaniState, start, step uint64) (p0, p1 uint64)\n")
	fmt.Fprintf(&out, "TEXT ·prefixSHANI(SB), NOSPLIT, $0-40\n")
	emit("MOVQ st+0(FP), DI")
	emit("MOVQ start+8(FP), SI")
	emit("MOVQ step+16(FP), BX")
	attempts()
	emit("PEXTRQ $1, %s, AX", ls[0].abef)
	emit("MOVQ AX, p0+24(FP)")
	emit("PEXTRQ $1, %s, AX", ls[1].abef)
	emit("MOVQ AX, p1+32(FP)")
	emit("RET")

	if err := os.WriteFile(*path, out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
