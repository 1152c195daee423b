package netpeers

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/meshchain/meshchain/chain"
)

// TypeBlocks is the type of the answer to get_blocks.
const TypeBlocks = "blocks"

// Blocks answers GetBlocks.
type Blocks struct {
	Blocks []chain.Block `json:"blocks"`
}

// FrameType is "blocks".
func (Blocks) FrameType() string { return TypeBlocks }

func (b Blocks) frameJSON() ([]byte, error) {
	if b.Blocks == nil {
		b.Blocks = []chain.Block{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Blocks
	}{TypeBlocks, b})
}

func (Blocks) decodeFrame(d *fieldDecoder) (Frame, error) {
	raw, ok := d.fields["blocks"]
	if !ok || isNull(raw) {
		return nil, malformed("field blocks of blocks is missing")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, malformed("field blocks of blocks must be an array")
	}
	out := Blocks{Blocks: make([]chain.Block, 0, len(items))}
	for i, item := range items {
		b, err := decodeBlock(item, fmt.Sprintf("blocks[%d]", i))
		if err != nil {
			return nil, err
		}
		out.Blocks = append(out.Blocks, b)
	}
	return out, nil
}

// blocksFramePrefix is how a blocks frame starts as this node (and
// encoding/json, fields in order) writes it.
var blocksFramePrefix = []byte(`{"type":"blocks","blocks":[`)

// decodeBlocksFrameFast decodes a blocks frame of the shape every node
// sends, {"type":"blocks","blocks":[{...},...]} with nothing else, in one
// pass: each block by chain.DecodeBlockAt, without the map of raw fields,
// the array of raw items and encoding/json's validation of each (four
// passes over up to 500 blocks, a sync's every answer). Anything else
// reports false and is left to Decode's general path, which then gives
// the same frame or the same error.
func decodeBlocksFrameFast(frame []byte) (Blocks, bool) {
	if !bytes.HasPrefix(frame, blocksFramePrefix) {
		return Blocks{}, false
	}
	i := len(blocksFramePrefix)
	out := Blocks{Blocks: []chain.Block{}}
	if i < len(frame) && frame[i] == ']' {
		i++
	} else {
		out.Blocks = make([]chain.Block, 0, min(chain.MaxBlocksPerReply, len(frame)/256+1))
		for {
			b, j, ok := chain.DecodeBlockAt(frame, i)
			if !ok || j >= len(frame) {
				return Blocks{}, false
			}
			out.Blocks = append(out.Blocks, b)
			i = j + 1
			if frame[j] == ']' {
				break
			}
			if frame[j] != ',' {
				return Blocks{}, false
			}
		}
	}
	if i != len(frame)-1 || frame[i] != '}' {
		return Blocks{}, false
	}
	return out, true
}
