package netpeers

import (
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
