package netpeers

import "encoding/json"

// TypeGetBlocks is the type of a request for blocks.
const TypeGetBlocks = "get_blocks"

// GetBlocks asks for the blocks after the first locator hash the responder has.
type GetBlocks struct {
	Locator []string `json:"locator"`
	Limit   int      `json:"limit"`
}

// FrameType is "get_blocks".
func (GetBlocks) FrameType() string { return TypeGetBlocks }

func (g GetBlocks) frameJSON() ([]byte, error) {
	if g.Locator == nil {
		g.Locator = []string{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		GetBlocks
	}{TypeGetBlocks, g})
}

func (GetBlocks) decodeFrame(d *fieldDecoder) (Frame, error) {
	var g GetBlocks
	g.Locator = d.strings("locator")
	g.Limit = d.int("limit", true)
	if d.err == nil && g.Limit < 0 {
		return nil, malformed("get_blocks limit %d is negative", g.Limit)
	}
	return g, d.err
}
