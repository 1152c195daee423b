package store

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

func storedRecord(t testing.TB, b chain.Block) []byte {
	t.Helper()
	j, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// checkDecodeStored holds decodeStored to its promise: whatever it accepts,
// the strict decoder accepts too and decodes to the same block.
func checkDecodeStored(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var got chain.Block
	if !decodeStored(string(data), &got) {
		return false
	}
	var want chain.Block
	if err := want.UnmarshalJSON(data); err != nil {
		t.Fatalf("fast decoder accepted %q, the strict one refuses it: %v", data, err)
	}
	if got != want {
		t.Fatalf("%q: fast decoder %+v, strict %+v", data, got, want)
	}
	return true
}

func sampleBlock() chain.Block {
	g := chain.Genesis(8)
	return chain.Block{Number: 7, PrevHash: g.Hash, Message: "hello", Sender: g.Sender,
		TimeStamp: "2026-12-01T20:49:09.604Z", Difficulty: 8, Nonce: 63, ProofOfWork: 64,
		Signature: g.Signature, Hash: g.Hash}
}

func TestDecodeStoredMatchesStrict(t *testing.T) {
	base := sampleBlock()
	fastCases := []func(*chain.Block){
		func(*chain.Block) {},
		func(b *chain.Block) { b.Message = "héllo wörld ✓ 🎉" },
		func(b *chain.Block) { b.Message = "fish & chips <3 \"quoted\" back\\slash \u2028 tab\t" }, // escapes
		func(b *chain.Block) { b.Number, b.Nonce, b.ProofOfWork, b.Difficulty = 0, 0, 0, 0 },
		func(b *chain.Block) {
			b.Number, b.Nonce, b.ProofOfWork, b.Difficulty = 1<<63-1, chain.MaxSafeInteger, chain.MaxSafeInteger, 256
		},
	}
	for i, change := range fastCases {
		b := base
		change(&b)
		if !checkDecodeStored(t, storedRecord(t, b)) {
			t.Errorf("case %d: the store's own record %s is not decoded fast", i, storedRecord(t, b))
		}
	}
	// What the fast decoder must leave to the strict one (which may accept
	// or refuse it): bad escapes, control characters, other layouts, numbers
	// out of range.
	slow := []string{
		strings.Replace(string(storedRecord(t, base)), `"hello"`, `"a\qb"`, 1),
		strings.Replace(string(storedRecord(t, base)), `"hello"`, `"a\u00"`, 1),
		strings.Replace(string(storedRecord(t, base)), `"hello"`, "\"a\\\x01b\"", 1),
		strings.Replace(string(storedRecord(t, base)), `"hello"`, "\"a\x01b\"", 1),
		strings.Replace(string(storedRecord(t, base)), `"hello"`, "\"a\xffb\"", 1),
		strings.Replace(string(storedRecord(t, base)), `"nonce":63`, `"nonce":063`, 1),
		strings.Replace(string(storedRecord(t, base)), `"nonce":63`, `"nonce":6.3`, 1),
		strings.Replace(string(storedRecord(t, base)), `"nonce":63`, `"nonce":6e3`, 1),
		strings.Replace(string(storedRecord(t, base)), `"nonce":63`, `"nonce":-63`, 1),
		strings.Replace(string(storedRecord(t, base)), `"nonce":63`, `"nonce":9007199254740992`, 1),
		strings.Replace(string(storedRecord(t, base)), `"difficulty":8`, `"difficulty":257`, 1),
		strings.Replace(string(storedRecord(t, base)), `"number_of_block":7`, `"number_of_block":9223372036854775808`, 1),
		strings.Replace(string(storedRecord(t, base)), `"number_of_block":7`, `"number_of_block":99999999999999999999`, 1),
		strings.Replace(string(storedRecord(t, base)), `,"nonce"`, ` ,"nonce"`, 1),
		strings.Replace(string(storedRecord(t, base)), `"hello"`, `null`, 1),
		string(storedRecord(t, base)) + " ",
		string(storedRecord(t, base)) + "{}",
		strings.TrimSuffix(string(storedRecord(t, base)), "}"),
		strings.Replace(string(storedRecord(t, base)), `"nonce"`, `"Nonce"`, 1),
		`{"number_of_block":7,"garbage`,
		``,
	}
	for _, s := range slow {
		if checkDecodeStored(t, []byte(s)) {
			t.Errorf("fast decoder took %q, which it must leave to the strict decoder", s)
		}
	}
}

// FuzzDecodeStored: on any input, the fast decoder either declines or
// agrees with chain.Block.UnmarshalJSON.
func FuzzDecodeStored(f *testing.F) {
	b := sampleBlock()
	f.Add(storedRecord(f, b))
	b.Message = "ünïcödé \u2028"
	f.Add(storedRecord(f, b))
	f.Add([]byte(`{"number_of_block":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeStored(t, data)
	})
}

// TestDecodeStoredEveryPosition puts each kind of byte the fast decoder
// must look at (quote, backslash, control, multi-byte characters, valid
// or not) at every position of messages of every length up to 40, so
// each lands at each place of the decoder's 8-byte words, and holds the
// decoder to the strict one on all of them.
func TestDecodeStoredEveryPosition(t *testing.T) {
	base := sampleBlock()
	rec := string(storedRecord(t, base))
	for n := 0; n <= 40; n++ {
		plain := strings.Repeat("abcdefgh", 6)[:n]
		b := base
		b.Message = plain
		if !checkDecodeStored(t, storedRecord(t, b)) {
			t.Fatalf("plain %d-byte message not decoded fast", n)
		}
		for j := 0; j <= n; j++ {
			for _, ins := range []string{`\"`, `\\`, `\n`, "\x01", "\x1f", "\x7f", "é", "\u2028", "\xff", "\xc3", `"`, "\x00"} {
				raw := strings.Replace(rec, `"message":"hello"`, `"message":"`+plain[:j]+ins+plain[j:]+`"`, 1)
				checkDecodeStored(t, []byte(raw))
			}
		}
	}
}

func BenchmarkDecodeStored(b *testing.B) {
	blk := sampleBlock()
	blk.Message = "the quick brown fox jumps over the lazy dog, message number 12345"
	rec := string(storedRecord(b, blk))
	for b.Loop() {
		var out chain.Block
		if !decodeStored(rec, &out) {
			b.Fatal("not decoded")
		}
	}
}
