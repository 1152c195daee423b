// Package netpeers is meshchain's peer-to-peer transport: the WebSocket
// server and dialer of PROTOCOL.md section 2, its wire frames, peer sessions
// (hello handshake, ping/pong latency, offline detection, redial with
// backoff), address gossip, the address book and penalties for peers that
// break the wire rules.
//
// It knows frames, not consensus: what a block, a tip or a get_blocks request
// means is decided by the node, which receives them through the Handler
// interface and tells netpeers whom to send what and whom to penalise. It must
// not validate blocks, choose chains or hold chain state, and it knows nothing
// of the user interface.
package netpeers
