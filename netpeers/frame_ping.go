package netpeers

import "encoding/json"

// TypePing is the type of a latency probe.
const TypePing = "ping"

// maxNonceDigits bounds a nonce echoed as text, so that a ping cannot make
// its pong megabytes long.
const maxNonceDigits = 64

// Ping asks for a Pong with the same nonce; the round trip is the latency.
type Ping struct {
	Nonce uint64 `json:"nonce"`
	// text is a decoded nonce that is a whole number outside uint64
	// (negative, or above 2^64-1), kept as sent so that the pong echoes
	// it exactly; Nonce is then 0.
	text string
}

// FrameType is "ping".
func (Ping) FrameType() string { return TypePing }

func (p Ping) frameJSON() ([]byte, error) {
	if p.text != "" {
		return []byte(`{"type":"ping","nonce":` + p.text + `}`), nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Ping
	}{TypePing, p})
}

func (Ping) decodeFrame(d *fieldDecoder) (Frame, error) {
	var p Ping
	p.Nonce, p.text = d.nonce("nonce")
	return p, d.err
}
