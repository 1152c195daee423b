package netpeers

import "encoding/json"

// TypeHello is the type of the first frame of every session.
const TypeHello = "hello"

// Hello is the first frame of every session, sent by both sides at once.
type Hello struct {
	Version int    `json:"version"`
	Genesis string `json:"genesis"`
	NodeID  string `json:"node_id"`
	Listen  string `json:"listen"`
	Height  uint64 `json:"height"`
	Tip     string `json:"tip"`
	Work    string `json:"work"`
	Agent   string `json:"agent"`
	// NodeKey (66 hex, compressed) and Challenge (64 hex) are sent by a
	// node that proves its id; see PROTOCOL.md "Authenticated node ids".
	NodeKey   string `json:"node_key,omitempty"`
	Challenge string `json:"challenge,omitempty"`
}

// FrameType is "hello".
func (Hello) FrameType() string { return TypeHello }

func (h Hello) frameJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Hello
	}{TypeHello, h})
}

func (Hello) decodeFrame(d *fieldDecoder) (Frame, error) {
	var h Hello
	h.Version = d.int("version", true)
	h.Genesis = d.str("genesis", true)
	h.NodeID = d.str("node_id", true)
	h.Listen = d.str("listen", false)
	h.Height = d.uint("height", true)
	h.Tip = d.str("tip", true)
	h.Work = d.work()
	h.Agent = d.str("agent", false)
	h.NodeKey = d.str("node_key", false)
	h.Challenge = d.str("challenge", false)
	// Either may be absent; present, it is 66 or 64 hex, never empty.
	for _, f := range [...]struct{ name, v string }{{"node_key", h.NodeKey}, {"challenge", h.Challenge}} {
		if raw, ok := d.fields[f.name]; ok && f.v == "" && !isNull(raw) && d.err == nil {
			d.err = malformed("field %s of hello is empty (omit it to send none)", f.name)
		}
	}
	return h, d.err
}
