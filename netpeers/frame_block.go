package netpeers

import (
	"encoding/json"

	"github.com/meshchain/meshchain/chain"
)

// TypeBlock is the type of a frame carrying one new block.
const TypeBlock = "block"

// BlockMsg carries one new block.
type BlockMsg struct {
	Block chain.Block `json:"block"`
}

// FrameType is "block".
func (BlockMsg) FrameType() string { return TypeBlock }

func (b BlockMsg) frameJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		BlockMsg
	}{TypeBlock, b})
}

func (BlockMsg) decodeFrame(d *fieldDecoder) (Frame, error) {
	raw, ok := d.fields["block"]
	if !ok || isNull(raw) {
		return nil, &FrameError{Code: ReasonMalformedBlock, Detail: "block frame has no block",
			Err: &chain.RuleError{Code: chain.MalformedBlock, Description: "block frame has no block"}}
	}
	b, err := decodeBlock(raw, "block")
	if err != nil {
		return nil, err
	}
	return BlockMsg{Block: b}, nil
}
