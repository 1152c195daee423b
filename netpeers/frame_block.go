package netpeers

import (
	"bytes"
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

// blockFramePrefix is how a block frame starts as this node (and
// encoding/json, fields in order) writes it.
var blockFramePrefix = []byte(`{"type":"block","block":`)

// decodeBlockFrameFast decodes a block frame of the shape every node sends,
// {"type":"block","block":{...}} with nothing else, without first decoding
// the frame into a map: a node receives each block once from every peer,
// and this is the frame it reads most. The block goes through
// chain.Block's own decoding; anything it refuses, and every other shape,
// reports false and is left to Decode's general path, which then gives
// the same frame or the same error.
func decodeBlockFrameFast(frame []byte) (BlockMsg, bool) {
	if !bytes.HasPrefix(frame, blockFramePrefix) || frame[len(frame)-1] != '}' {
		return BlockMsg{}, false
	}
	var b chain.Block
	if b.UnmarshalJSON(frame[len(blockFramePrefix):len(frame)-1]) != nil {
		return BlockMsg{}, false
	}
	return BlockMsg{Block: b}, true
}
