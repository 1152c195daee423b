package netpeers

import "encoding/json"

// TypeError is the type of the frame sent before closing a session.
const TypeError = "error"

// Error tells the peer why it is about to be closed: "<code>: <text>".
type Error struct {
	Reason string `json:"reason"`
}

// FrameType is "error".
func (Error) FrameType() string { return TypeError }

func (e Error) frameJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Error
	}{TypeError, e})
}

func (Error) decodeFrame(d *fieldDecoder) (Frame, error) {
	return Error{Reason: d.str("reason", true)}, d.err
}
