package netpeers

import "encoding/json"

// TypePong is the type of the answer to a ping.
const TypePong = "pong"

// Pong answers a Ping.
type Pong struct {
	Nonce uint64 `json:"nonce"`
	text  string // as Ping's
}

// FrameType is "pong".
func (Pong) FrameType() string { return TypePong }

func (p Pong) frameJSON() ([]byte, error) {
	if p.text != "" {
		return []byte(`{"type":"pong","nonce":` + p.text + `}`), nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Pong
	}{TypePong, p})
}

func (Pong) decodeFrame(d *fieldDecoder) (Frame, error) {
	var p Pong
	p.Nonce, p.text = d.nonce("nonce")
	return p, d.err
}
