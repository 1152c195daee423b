package chain

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// vectorBlocks is every block of the protocol vectors, as their JSON.
func vectorBlocks(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ChainD8 []struct {
			Block json.RawMessage `json:"block"`
		} `json:"chain_d8"`
		Invalid []struct {
			Block json.RawMessage `json:"block"`
		} `json:"invalid_after_genesis_d8"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, c := range v.ChainD8 {
		out = append(out, c.Block)
	}
	for _, c := range v.Invalid {
		out = append(out, c.Block)
	}
	return out
}

// sameAsWire checks the fast path against encoding/json on one input: when
// the fast path takes it, the wire path must give the same block.
func sameAsWire(t *testing.T, raw []byte) bool {
	t.Helper()
	fast, ok := decodeBlockFast(raw)
	if !ok {
		return false
	}
	var wire Block
	if err := wire.unmarshalWire(raw); err != nil {
		t.Fatalf("fast path took %q, encoding/json refuses it: %v", raw, err)
	}
	if fast != wire {
		t.Fatalf("fast path %+v, encoding/json %+v, from %q", fast, wire, raw)
	}
	return true
}

func TestDecodeBlockFastTakesEncodedBlocks(t *testing.T) {
	g := Genesis(8)
	uni := g
	uni.Message = "héllo, 世界 \u2028 <tag> & done"
	inputs := [][]byte{}
	for _, b := range []Block{g, uni} {
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, raw)
	}
	indented, _ := json.MarshalIndent(g, " ", "\t")
	inputs = append(inputs, indented)
	took := 0
	for _, raw := range append(inputs, vectorBlocks(t)...) {
		if sameAsWire(t, raw) {
			took++
		}
	}
	// The vectors' invalid blocks include malformed ones; every block this
	// node encodes itself (json.Marshal escapes <, > and & and U+2028) must
	// take the fast path.
	for i, raw := range inputs[:2] {
		if _, ok := decodeBlockFast(raw); !ok {
			t.Errorf("input %d (%s) left the fast path", i, raw)
		}
	}
	t.Logf("%d of %d inputs took the fast path", took, len(inputs)+len(vectorBlocks(t)))
}

func TestDecodeBlockFastLeavesTheRest(t *testing.T) {
	raw, err := json.Marshal(Genesis(8))
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	cases := map[string]string{
		"unknown field":   strings.Replace(good, `{`, `{"extra":[1,{"a":2}],`, 1),
		"bad escape":      strings.Replace(good, `"meshchain genesis"`, `"mesh\qchain genesis"`, 1),
		"short escape":    strings.Replace(good, `"meshchain genesis"`, `"mesh\u00"`, 1),
		"escaped key":     strings.Replace(good, `"nonce"`, `"non\u0063e"`, 1),
		"escaped end":     strings.Replace(good, `"meshchain genesis"`, `"mesh\"`, 1),
		"repeated field":  strings.Replace(good, `{`, `{"nonce":5,`, 1),
		"null":            strings.Replace(good, `"nonce":0`, `"nonce":null`, 1),
		"fraction":        strings.Replace(good, `"nonce":0`, `"nonce":0.0`, 1),
		"exponent":        strings.Replace(good, `"nonce":0`, `"nonce":0e1`, 1),
		"leading zero":    strings.Replace(good, `"nonce":0`, `"nonce":07`, 1),
		"negative":        strings.Replace(good, `"nonce":0`, `"nonce":-1`, 1),
		"nonce too large": strings.Replace(good, `"nonce":0`, `"nonce":9007199254740992`, 1),
		"difficulty 257":  strings.Replace(good, `"difficulty":8`, `"difficulty":257`, 1),
		"string number":   strings.Replace(good, `"nonce":0`, `"nonce":"0"`, 1),
		"number string":   strings.Replace(good, `"meshchain genesis"`, `7`, 1),
		"other case":      strings.Replace(good, `"nonce"`, `"Nonce"`, 1),
		"missing field":   strings.Replace(good, `"nonce":0,`, ``, 1),
		"trailing":        good + `x`,
		"two objects":     good + good,
		"invalid utf-8":   strings.Replace(good, `meshchain genesis`, "mesh\xffchain", 1),
		"control char":    strings.Replace(good, `meshchain genesis`, "mesh\x01chain", 1),
		"not an object":   `[` + good + `]`,
		"unterminated":    good[:len(good)-1],
	}
	for name, in := range cases {
		if _, ok := decodeBlockFast([]byte(in)); ok {
			t.Errorf("%s: fast path took %q", name, in)
		}
	}
}

// TestDecodeBlockFastTakesEscapes: strings with escapes (json.Marshal
// writes <, > and & as \u003c, \u003e, \u0026) take the fast path, with the
// string encoding/json reads, lone surrogates and escaped quotes included.
func TestDecodeBlockFastTakesEscapes(t *testing.T) {
	raw, err := json.Marshal(Genesis(8))
	if err != nil {
		t.Fatal(err)
	}
	good := string(raw)
	for _, msg := range []string{`mesh\u0063hain`, `\u003c3 \u0026 \u003e`, `a\"b\\c\/d`, `\n\t\r\b\f`,
		`\ud83d\ude00`, `\ud800 lone`, `\udc00\ud800`, `end\\`, `\u00e9\u2028`} {
		in := []byte(strings.Replace(good, `"meshchain genesis"`, `"`+msg+`"`, 1))
		if !sameAsWire(t, in) {
			t.Errorf("%s: left the fast path", msg)
		}
	}
}

// FuzzDecodeBlockFast: whatever the fast path takes, encoding/json decodes
// to the same block.
func FuzzDecodeBlockFast(f *testing.F) {
	for _, raw := range vectorBlocks(f) {
		f.Add(raw)
	}
	raw, _ := json.Marshal(Genesis(8))
	f.Add(raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsWire(t, raw)
	})
}

// BenchmarkDecodeBlock compares the fast path with encoding/json on a
// block of the size a short message makes.
func BenchmarkDecodeBlock(b *testing.B) {
	g := Genesis(8)
	g.Message = strings.Repeat("a short message ", 4)
	raw, _ := json.Marshal(g)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var out Block
			if err := out.UnmarshalJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var out Block
			if err := out.unmarshalWire(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
