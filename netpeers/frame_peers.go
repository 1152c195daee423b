package netpeers

import "encoding/json"

// TypePeers is the type of the answer to get_peers.
const TypePeers = "peers"

// Peers answers GetPeers with "host:port" addresses.
type Peers struct {
	Peers []string `json:"peers"`
}

// FrameType is "peers".
func (Peers) FrameType() string { return TypePeers }

func (p Peers) frameJSON() ([]byte, error) {
	if p.Peers == nil {
		p.Peers = []string{}
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Peers
	}{TypePeers, p})
}

func (Peers) decodeFrame(d *fieldDecoder) (Frame, error) {
	return Peers{Peers: d.strings("peers")}, d.err
}
