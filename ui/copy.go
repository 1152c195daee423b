package ui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"
)

// copyable is one thing y can put on the clipboard: what it is, and its
// text.
type copyable struct{ what, text string }

// copyables is what the selection under focus offers to y, in the order
// repeated presses go through: a block's hash, sender and message id; a
// peer's node id and address; a ban's address, node id and IP; an event's
// text.
func (m *Model) copyables() []copyable {
	var out []copyable
	add := func(what, text string) {
		if text != "" {
			out = append(out, copyable{what, text})
		}
	}
	block := func(hash, sender, msgID string) {
		add("block hash", hash)
		add("sender", sender)
		add("message id", msgID)
	}
	peer := func(p peerLike) {
		if p.proven {
			add("node id", p.nodeID)
		}
		add("address", p.addr)
	}
	if m.net.open {
		// The network view draws the spread of the Chain pane's selection.
		if b, ok := m.chain.Selected(); ok {
			block(b.Hash, b.Sender, b.MessageID)
		}
		return out
	}
	switch m.focus {
	case focusChain:
		if b, ok := m.chain.Selected(); ok {
			block(b.Hash, b.Sender, b.MessageID)
		}
	case focusPeers:
		if p, ok := m.peers.Selected(); ok {
			peer(peerLike{p.NodeID, p.Addr, p.Proven})
		}
	case focusMessages:
		if r, ok := m.msgs.selected(); ok {
			add("sender", r.sender)
			add("message", r.text)
		}
	case focusEvents:
		if ev, ok := m.log.Selected(); ok {
			add("event", ev.text)
		}
	case focusDetail:
		d := &m.detail
		switch {
		case d.bansList:
			if b, ok := d.selectedBan(); ok {
				add("address", b.Addr)
				add("node id", b.NodeID)
				add("IP", b.IP)
			}
		case d.peer != nil:
			peer(peerLike{d.peer.NodeID, d.peer.Addr, d.peer.Proven})
		case d.event != nil:
			add("event", d.event.text)
		default:
			msgID := d.msgID // derived from the full block once it is loaded
			if msgID == "" {
				msgID = d.summary.MessageID
			}
			block(d.summary.Hash, d.summary.Sender, msgID)
		}
	}
	return out
}

type peerLike struct {
	nodeID, addr string
	proven       bool
}

// copySelection puts the next of the selection's copyables on the
// clipboard (OSC 52, which the terminal carries out; tmux and most
// terminals do) and says what was copied and what y copies next.
func (m *Model) copySelection() tea.Cmd {
	items := m.copyables()
	if len(items) == 0 {
		m.setStatus(statusInfo, "nothing to copy here")
		return nil
	}
	sel := fmt.Sprint(m.focus, "\x00", items[0].text)
	i := 0
	if sel == m.copySel {
		i = (m.copyNext) % len(items)
	}
	m.copySel, m.copyNext = sel, i+1
	c := items[i]
	s := fmt.Sprintf("copied %s %s", c.what, elideMiddle(Sanitize(c.text), 24))
	if len(items) > 1 {
		s += fmt.Sprintf("; y again: %s", items[(i+1)%len(items)].what)
	}
	m.setStatus(statusOK, s)
	return tea.SetClipboard(c.text)
}
