package netpeers

// TypeGetPeers is the type of a request for addresses.
const TypeGetPeers = "get_peers"

// GetPeers asks for addresses seen online.
type GetPeers struct{}

// FrameType is "get_peers".
func (GetPeers) FrameType() string { return TypeGetPeers }

func (GetPeers) frameJSON() ([]byte, error) { return []byte(`{"type":"get_peers"}`), nil }

func (GetPeers) decodeFrame(*fieldDecoder) (Frame, error) { return GetPeers{}, nil }
