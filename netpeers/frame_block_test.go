package netpeers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meshchain/meshchain/chain"
)

// blockFrameInputs are block frames of the shape every node sends and
// near misses of it, for the fast path's differential test and fuzz seeds.
func blockFrameInputs(t testing.TB) [][]byte {
	gs, escaped, noHash := genesisVariants(t)
	return [][]byte{
		[]byte(`{"type":"block","block":` + gs + `}`),
		[]byte(`{"type":"block","block": ` + gs + ` }`),
		[]byte(`{"type":"block","block":` + escaped + `}`),      // left to encoding/json inside the block
		[]byte(`{"type":"block","block":` + noHash + `}`),       // MalformedBlock
		[]byte(`{"type":"block","block":` + gs + `,"x":1}`),     // another field after the block
		[]byte(`{"type":"block","block":` + gs + `,"block":1}`), // the block twice: the last one counts
		[]byte(`{"type":"block","block":` + gs + `}}`),
		[]byte(`{"type":"block","block":` + gs + ``),
		[]byte(`{"type":"block","block":null}`),
		[]byte(`{"type":"block","block":{}}`),
		[]byte(`{"type":"block","block":` + gs[:len(gs)-1] + `,"extra":[1,{"a":"}"}]}}`),
		[]byte(`{"block":` + gs + `,"type":"block"}`),
	}
}

// genesisVariants is a block as JSON, the same block with an escape in its
// message (left to encoding/json) and without its hash (MalformedBlock).
func genesisVariants(t testing.TB) (gs, escaped, noHash string) {
	g := chain.Genesis(1)
	gJSON, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	gs = string(gJSON)
	escaped = strings.Replace(gs, `"meshchain genesis"`, `"mesh\u0063hain genesis"`, 1)
	noHash = strings.Replace(gs, `,"hash":"`+g.Hash+`"`, "", 1)
	return gs, escaped, noHash
}

// TestBlockFrameFastPathAgrees: Decode, fast path included, gives for
// every input the same frame or the same error as the general path alone,
// and the fast path takes the frames nodes send.
func TestBlockFrameFastPathAgrees(t *testing.T) {
	inputs := blockFrameInputs(t)
	for i, in := range inputs {
		sameAsGeneral(t, in)
		want := i < 3 || i == 10 // 10: the block's unknown field is left to encoding/json, which takes it
		if _, ok := decodeBlockFrameFast(bytes.TrimSpace(in)); ok != want {
			t.Errorf("input %d: fast path took it: %v, want %v", i, ok, want)
		}
	}
	// What this node encodes takes the fast path.
	data, err := Encode(BlockMsg{Block: chain.Genesis(8)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeBlockFrameFast(data); !ok {
		t.Errorf("fast path refused %s", data)
	}
}

func sameAsGeneral(t *testing.T, in []byte) {
	t.Helper()
	got, gotErr := Decode(in)
	var want Frame
	var wantErr error
	if trimmed := bytes.TrimSpace(in); utf8.Valid(in) && len(trimmed) > 0 && trimmed[0] == '{' {
		want, wantErr = decodeObject(trimmed)
	} else {
		return // refused before either path
	}
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%q: Decode error %v, general path %v", in, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: Decode %#v, general path %#v", in, got, want)
	}
}

func FuzzBlockFrameFastPath(f *testing.F) {
	for _, in := range blockFrameInputs(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > MaxFrameBytes {
			return
		}
		sameAsGeneral(t, in)
	})
}
