package chain

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeBlockFast decodes the common shape of a block in one pass without
// reflection: one JSON object holding exactly the ten fields, by their
// exact names, once each, strings (an escaped one read by encoding/json,
// as the general path reads it), numbers as plain digits. Anything else
// (an unknown or repeated field, null, a number out of range, a syntax
// error, an escape in a key) reports false and is left to the
// encoding/json path, which gives the same block or the rule error, so the
// fast path never changes what is accepted or how it is refused. A relayed
// block and every block of a 500-block sync answer pass through here.
func decodeBlockFast(d []byte) (Block, bool) {
	b, i, ok := DecodeBlockAt(d, 0)
	if !ok || skipSpace(d, i) != len(d) {
		return Block{}, false
	}
	return b, true
}

// DecodeBlockAt decodes the block object that starts at d[i] (after any
// white space) as the fast path of Block.UnmarshalJSON does, and returns
// the index just after its closing brace. It reports false for anything
// that path leaves to encoding/json, so a caller that finds the object's
// end here gets the same block that UnmarshalJSON would give for the
// object alone; on false it must take its general path.
func DecodeBlockAt(d []byte, i int) (Block, int, bool) {
	const (
		fNumber = 1 << iota
		fPrev
		fMessage
		fSender
		fTime
		fDifficulty
		fNonce
		fProof
		fSignature
		fHash
		fAll = 1<<iota - 1
	)
	var b Block
	seen := 0
	i = skipSpace(d, i)
	if i >= len(d) || d[i] != '{' {
		return Block{}, 0, false
	}
	i = skipSpace(d, i+1)
	for {
		key, j, ok := plainString(d, i)
		if !ok {
			return Block{}, 0, false
		}
		i = skipSpace(d, j)
		if i >= len(d) || d[i] != ':' {
			return Block{}, 0, false
		}
		i = skipSpace(d, i+1)
		var bit int
		var str *string
		var num *uint64
		var limit uint64
		switch string(key) {
		case "number_of_block":
			bit, num, limit = fNumber, &b.Number, 1<<63-1
		case "difficulty":
			bit, limit = fDifficulty, 256
		case "nonce":
			bit, num, limit = fNonce, &b.Nonce, MaxSafeInteger
		case "proof_of_work":
			bit, num, limit = fProof, &b.ProofOfWork, MaxSafeInteger
		case "prev_hash":
			bit, str = fPrev, &b.PrevHash
		case "message":
			bit, str = fMessage, &b.Message
		case "sender":
			bit, str = fSender, &b.Sender
		case "timeStamp":
			bit, str = fTime, &b.TimeStamp
		case "signature":
			bit, str = fSignature, &b.Signature
		case "hash":
			bit, str = fHash, &b.Hash
		default:
			return Block{}, 0, false
		}
		if seen&bit != 0 {
			return Block{}, 0, false
		}
		seen |= bit
		if str != nil {
			v, j, ok := stringValue(d, i)
			if !ok {
				return Block{}, 0, false
			}
			*str, i = v, j
		} else {
			v, j, ok := plainUint(d, i, limit)
			if !ok {
				return Block{}, 0, false
			}
			if num != nil {
				*num = v
			} else {
				b.Difficulty = uint32(v)
			}
			i = j
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return Block{}, 0, false
		}
		if d[i] == ',' {
			i = skipSpace(d, i+1)
			continue
		}
		if d[i] != '}' {
			return Block{}, 0, false
		}
		i++
		break
	}
	if seen != fAll {
		return Block{}, 0, false
	}
	return b, i, true
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// stringValue reads the JSON string at d[i] and returns it and the index
// after it: a plain one (valid UTF-8, no escapes) as its bytes, one with
// escapes through JSONStringAt. Anything else reports false.
func stringValue(d []byte, i int) (string, int, bool) {
	if v, j, ok := plainString(d, i); ok {
		return string(v), j, utf8.Valid(v)
	}
	return JSONStringAt(d, i)
}

// JSONStringAt reads the JSON string that starts with the quote at d[i],
// escapes and all, as encoding/json reads it (json.Marshal writes <, > and
// & as \u003c, \u003e, \u0026, so a chat message has them often), and
// returns it and the index after its closing quote. A control character,
// a bad escape or no closing quote reports false. The fast block decoders
// (this package's and the store's) take escaped strings through it.
func JSONStringAt[T ~string | ~[]byte](d T, i int) (string, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return "", 0, false
	}
	for k := i + 1; k < len(d); k++ {
		switch c := d[k]; {
		case c == '\\':
			k++ // the escaped byte cannot end the string
		case c == '"':
			var s string
			if json.Unmarshal([]byte(d[i:k+1]), &s) != nil {
				return "", 0, false
			}
			return s, k + 1, true
		case c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// plainString reads a JSON string at d[i] that has no escapes and no
// control characters, and returns its bytes and the index after it.
func plainString(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	for k := i + 1; k < len(d); k++ {
		switch c := d[k]; {
		case c == '"':
			return d[i+1 : k], k + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainUint reads a JSON number at d[i] made of digits only, without a
// leading zero, at most limit, and returns it and the index after it. A
// fraction or exponent after the digits fails at the caller, which then
// finds neither ',' nor '}'.
func plainUint(d []byte, i int, limit uint64) (uint64, int, bool) {
	k := i
	for k < len(d) && d[k] >= '0' && d[k] <= '9' {
		k++
	}
	if k == i || k-i > 19 || (k-i > 1 && d[i] == '0') {
		return 0, 0, false
	}
	var v uint64 // 19 digits cannot overflow 64 bits
	for _, c := range d[i:k] {
		v = v*10 + uint64(c-'0')
	}
	if v > limit {
		return 0, 0, false
	}
	return v, k, true
}
