package store

import (
	"unicode/utf8"

	"github.com/meshchain/meshchain/chain"
)

// decodeStored decodes a block record written by this store (json.Marshal
// of a chain.Block: its fields in their order, no spaces) without
// encoding/json, which spent most of an open's time. It accepts only what
// it can decode exactly as chain.Block.UnmarshalJSON would: strings with no
// control characters and valid UTF-8 (one with escapes read by
// encoding/json), numbers whole, without leading zeros and in range. It
// reports false for anything else (a record from an older encoder, a
// damaged one), and the caller then uses the strict decoder, which also
// gives the error.
//
// Strings without escapes are parts of data, so such a block costs no
// allocation beside itself and the record's one copy.
func decodeStored(data string, b *chain.Block) bool {
	d := fastDec{s: data}
	var out chain.Block
	var diff uint64
	ok := d.lit(`{"number_of_block":`) && d.uint(&out.Number, 1<<63-1) &&
		d.lit(`,"prev_hash":`) && d.str(&out.PrevHash) &&
		d.lit(`,"message":`) && d.str(&out.Message) &&
		d.lit(`,"sender":`) && d.str(&out.Sender) &&
		d.lit(`,"timeStamp":`) && d.str(&out.TimeStamp) &&
		d.lit(`,"difficulty":`) && d.uint(&diff, 256) &&
		d.lit(`,"nonce":`) && d.uint(&out.Nonce, chain.MaxSafeInteger) &&
		d.lit(`,"proof_of_work":`) && d.uint(&out.ProofOfWork, chain.MaxSafeInteger) &&
		d.lit(`,"signature":`) && d.str(&out.Signature) &&
		d.lit(`,"hash":`) && d.str(&out.Hash) &&
		d.lit(`}`) && d.i == len(d.s)
	if !ok {
		return false
	}
	out.Difficulty = uint32(diff)
	*b = out
	return true
}

// fastDec reads s from i on.
type fastDec struct {
	s string
	i int
}

// lit consumes want.
func (d *fastDec) lit(want string) bool {
	if len(d.s)-d.i < len(want) || d.s[d.i:d.i+len(want)] != want {
		return false
	}
	d.i += len(want)
	return true
}

// uint consumes a JSON number that is a whole number from 0 to max with
// no leading zero, no sign, fraction or exponent.
func (d *fastDec) uint(dst *uint64, max uint64) bool {
	start := d.i
	var v uint64
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		c := uint64(d.s[d.i] - '0')
		if v > (max-c)/10 {
			return false // above max (and never wraps)
		}
		v = v*10 + c
		d.i++
	}
	n := d.i - start
	if n == 0 || (n > 1 && d.s[start] == '0') {
		return false
	}
	// A fraction or exponent would follow the digits; the next literal
	// (a comma or the closing brace) refuses it.
	*dst = v
	return true
}

// str consumes a JSON string that needs no unescaping: its content is
// then exactly the decoded value.
func (d *fastDec) str(dst *string) bool {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return false
	}
	start := d.i + 1
	ascii := true
	j := start
	// Eight bytes at a time while none of them can end the string or
	// need a closer look (a quote, a backslash, a control character or
	// a byte of a multi-byte character); the loop below takes the rest.
	for ; j+8 <= len(d.s); j += 8 {
		if needsLook(load64(d.s[j:])) {
			break
		}
	}
	for ; j < len(d.s); j++ {
		c := d.s[j]
		if c == '"' {
			break
		}
		if c == '\\' { // escaped: read as the strict decoder reads it
			v, next, ok := chain.JSONStringAt(d.s, start-1)
			if ok {
				*dst, d.i = v, next
			}
			return ok
		}
		if c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if j >= len(d.s) {
		return false
	}
	v := d.s[start:j]
	if !ascii && !utf8.ValidString(v) {
		return false // encoding/json would replace the bad bytes
	}
	*dst = v
	d.i = j + 1
	return true
}

// load64 is s's first 8 bytes as a little-endian word (len(s) >= 8).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// needsLook reports whether a byte of x may be a quote, a backslash, below
// 0x20 or above 0x7f. It never misses one; it may flag a word that has
// none (a borrow across bytes), which costs only the byte-wise look.
func needsLook(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(y uint64) uint64 { return (y - ones) & ^y & highs }
	return (zero(x^(ones*'"')) | zero(x^(ones*'\\')) | (x-ones*0x20)&^x&highs | x&highs) != 0
}

// decodeRecord decodes a stored block record: the fast path for the
// store's own encoding, the strict decoder (and its error) for anything
// else.
func decodeRecord(data string, b *chain.Block) error {
	if decodeStored(data, b) {
		return nil
	}
	return b.UnmarshalJSON([]byte(data))
}
