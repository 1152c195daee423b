package netpeers

import "encoding/json"

// TypeTip is the type of a best-tip announcement.
const TypeTip = "tip"

// maxWorkDigits bounds the decimal work a hello or tip announces. Real
// work stays below 2^320 (97 digits); a node parses announced work often,
// and parsing a 4 MiB number takes seconds.
const maxWorkDigits = 128

// Tip announces the sender's best tip.
type Tip struct {
	Height uint64 `json:"height"`
	Tip    string `json:"tip"`
	Work   string `json:"work"`
}

// FrameType is "tip".
func (Tip) FrameType() string { return TypeTip }

func (t Tip) frameJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Tip
	}{TypeTip, t})
}

func (Tip) decodeFrame(d *fieldDecoder) (Frame, error) {
	var t Tip
	t.Height = d.uint("height", true)
	t.Tip = d.str("tip", true)
	t.Work = d.work()
	return t, d.err
}
