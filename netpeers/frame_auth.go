package netpeers

import "encoding/json"

// TypeAuth is the type of the frame that proves a node key.
const TypeAuth = "auth"

// Auth proves the sender's node key: the second frame of a session when
// both hellos carry node_key and challenge.
type Auth struct {
	Signature string `json:"signature"`
}

// FrameType is "auth".
func (Auth) FrameType() string { return TypeAuth }

func (a Auth) frameJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Auth
	}{TypeAuth, a})
}

func (Auth) decodeFrame(d *fieldDecoder) (Frame, error) {
	return Auth{Signature: d.str("signature", true)}, d.err
}
