package node

import (
	"context"
	"time"

	"github.com/meshchain/meshchain/netpeers"
)

// DeletePeer removes an address from the stored book, for Forget.
func (b bookAdapter) DeletePeer(addr string) error { return b.st.DeletePeer(addr) }

// BanInfo is one refusal in force, by address: a ban the user asked for
// (ByUser) or a penalty for a broken rule.
type BanInfo struct {
	Addr   string
	NodeID string // refused too, when the peer proved it
	IP     string // refused too; never a loopback IP
	Reason string
	Until  time.Time
	ByUser bool
}

// dialFailed reports a failed dial (netpeers rate-limits them: one per
// failed attempt, spaced by the backoff). netpeers has logged it with the
// raw error.
func (n *Node) dialFailed(ev netpeers.PeerEvent) {
	next := ""
	if !ev.NextDial.IsZero() {
		next = ev.NextDial.UTC().Format(time.RFC3339)
	}
	n.emit(PeerDialFailed{Peer: ev.Peer.Addr, Error: ev.Reason, NextTry: next, Attempts: ev.Attempts})
}

// peerAddr is addr as the address book keys it, for events; addr itself
// when it is not an address (a node id).
func peerAddr(addr string) string {
	if a, err := netpeers.NormalizeAddr(addr); err == nil {
		return a
	}
	return addr
}

// Forget removes an address from the address book and the store, closing
// its session if one is online, and stops dialing it. It stays forgotten
// after a restart unless it is configured (--peer, config.toml), which
// dials it again, or a peer gossips it anew.
func (n *Node) Forget(ctx context.Context, addr string) error {
	if err := n.net.Forget(ctx, addr); err != nil {
		return err
	}
	n.emit(PeerForgotten{Peer: peerAddr(addr)})
	return nil
}

// Disconnect closes the session with the peer at addr and returns once it
// is closed. The peer stays in the book and may connect again later by
// the usual rules (redial backoff, or its own dial).
func (n *Node) Disconnect(ctx context.Context, addr string) error {
	if err := n.net.Disconnect(ctx, addr); err != nil {
		return err
	}
	n.emit(PeerDisconnected{Peer: peerAddr(addr)})
	return nil
}

// Ban refuses the peer at addr for d and closes its session: its address,
// its node id when proven and its IP unless loopback (on loopback, where
// many nodes share the IP, the address and node id carry the ban). A ban
// of a dialable address outlasts a restart.
func (n *Node) Ban(ctx context.Context, addr string, d time.Duration, reason string) error {
	info, err := n.net.Ban(ctx, addr, d, reason)
	if info.Addr != "" {
		// The ban holds even when ctx ended before the session closed.
		n.emit(PeerBanned{Peer: info.Addr, NodeID: info.NodeID, Reason: info.Reason, Until: info.Until.UTC().Format(time.RFC3339)})
	}
	return err
}

// Unban lifts a ban or penalty on addr; the dialer may try it at once.
func (n *Node) Unban(ctx context.Context, addr string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.net.Unban(addr); err != nil {
		return err
	}
	n.emit(PeerUnbanned{Peer: peerAddr(addr)})
	return nil
}

// Bans lists the refusals in force, the longest-lasting first.
func (n *Node) Bans() []BanInfo {
	bs := n.net.Bans()
	out := make([]BanInfo, len(bs))
	for i, b := range bs {
		out[i] = BanInfo(b)
	}
	return out
}
