package netpeers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

// blocksFrameInputs are blocks frames of the shape every node sends and
// near misses of it, for the fast path's differential test and fuzz seeds.
func blocksFrameInputs(t testing.TB) [][]byte {
	gs, escaped, noHash := genesisVariants(t)
	g2 := chain.Genesis(1)
	g2.Number, g2.Message = 2, "two"
	g2JSON, err := json.Marshal(g2)
	if err != nil {
		t.Fatal(err)
	}
	g2s := string(g2JSON)
	extra := gs[:len(gs)-1] + `,"extra":[1,{"a":"}"}]}`
	return [][]byte{
		// Taken by the fast path (0-3).
		[]byte(`{"type":"blocks","blocks":[]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `,` + g2s + `,` + gs + `]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `,` + escaped + `]}`),
		// Left to the general path.
		[]byte(`{"type":"blocks","blocks":[ ` + gs + ` , ` + g2s + ` ]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `,` + noHash + `]}`), // MalformedBlock at blocks[1]
		[]byte(`{"type":"blocks","blocks":[` + extra + `,` + gs + `]}`),  // encoding/json takes the unknown field
		[]byte(`{"type":"blocks","blocks":[` + gs + `],"x":1}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `],"blocks":[]}`), // the last one counts
		[]byte(`{"type":"blocks","blocks":[` + gs + `]}}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `,]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `,,` + gs + `]}`),
		[]byte(`{"type":"blocks","blocks":[` + gs + `]`),
		[]byte(`{"type":"blocks","blocks":[` + gs),
		[]byte(`{"type":"blocks","blocks":[]]}`),
		[]byte(`{"type":"blocks","blocks":[null]}`),
		[]byte(`{"type":"blocks","blocks":[1]}`),
		[]byte(`{"type":"blocks","blocks":null}`),
		[]byte(`{"type":"blocks","blocks":{}}`),
		[]byte(`{"type":"blocks","blocks":[{}]}`),
		[]byte(`{"blocks":[` + gs + `],"type":"blocks"}`),
	}
}

// TestBlocksFrameFastPathAgrees: Decode, fast path included, gives for
// every input the same frame or the same error as the general path alone,
// and the fast path takes the answers nodes send, 500 blocks included.
func TestBlocksFrameFastPathAgrees(t *testing.T) {
	for i, in := range blocksFrameInputs(t) {
		sameAsGeneral(t, in)
		if _, ok := decodeBlocksFrameFast(bytes.TrimSpace(in)); ok != (i < 4) {
			t.Errorf("input %d: fast path took it: %v, want %v", i, ok, i < 4)
		}
	}
	var answer Blocks
	for i := range chain.MaxBlocksPerReply {
		b := chain.Genesis(8)
		b.Number, b.Message = uint64(i+1), strings.Repeat("m", i%300)
		answer.Blocks = append(answer.Blocks, b)
	}
	for _, bl := range []Blocks{{}, answer} {
		data, err := Encode(bl)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := decodeBlocksFrameFast(data)
		if !ok || len(f.Blocks) != len(bl.Blocks) {
			t.Fatalf("fast path refused an answer of %d blocks (took %v)", len(bl.Blocks), ok)
		}
		sameAsGeneral(t, data)
	}
}

func FuzzBlocksFrameFastPath(f *testing.F) {
	for _, in := range blocksFrameInputs(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > MaxFrameBytes {
			return
		}
		sameAsGeneral(t, in)
	})
}

// BenchmarkDecodeBlocks500: a full get_blocks answer through Decode (the
// fast path) and through the general path alone, for the ratio.
func BenchmarkDecodeBlocks500(b *testing.B) {
	var answer, chat Blocks
	for i := range chain.MaxBlocksPerReply {
		bl := chain.Genesis(8)
		bl.Number, bl.Message = uint64(i+1), strings.Repeat("m", 40+i%80)
		answer.Blocks = append(answer.Blocks, bl)
		bl.Message = "fish & chips <3 " + bl.Message // json.Marshal escapes & < >
		chat.Blocks = append(chat.Blocks, bl)
	}
	data, err := Encode(answer)
	if err != nil {
		b.Fatal(err)
	}
	chatData, err := Encode(chat)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		data   []byte
		decode func([]byte) (Frame, error)
	}{
		{"escapes", chatData, Decode},
		{"Decode", data, Decode},
		{"general", data, decodeObject},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := c.decode(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
