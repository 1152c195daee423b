package ui

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/node"
)

// banChoices are the ban lengths offered by b, chosen with 1–4 or ←/→.
var banChoices = []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// defaultBan is banChoices' index offered first.
const defaultBan = 1

// banLabel is d in the words the ban prompt uses.
func banLabel(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// peerAction is what a peer key asks of the node; every one is confirmed
// first (y or Enter; n or Esc cancels).
type peerAction int

const (
	actDisconnect peerAction = iota
	actBan
	actUnban
	actForget
)

func (a peerAction) verb() string {
	switch a {
	case actDisconnect:
		return "disconnect"
	case actBan:
		return "ban"
	case actUnban:
		return "unban"
	}
	return "forget"
}

// confirmation is an action waiting for the user's yes.
type confirmation struct {
	act  peerAction
	addr string
	ban  int // banChoices index, for actBan
}

// prompt is the confirmation's question with its keys.
func (c confirmation) prompt() string {
	addr := Sanitize(c.addr)
	switch c.act {
	case actDisconnect:
		return "disconnect " + addr + "? (it may connect again later) y yes · n no"
	case actBan:
		s := "ban " + addr + " for"
		for i, d := range banChoices {
			l := fmt.Sprintf("%d %s", i+1, banLabel(d))
			if i == c.ban {
				l = "[" + l + "]"
			}
			s += " " + l
		}
		return s + "? y yes · n no"
	case actUnban:
		return "lift the ban on " + addr + "? y yes · n no"
	}
	return "forget " + addr + "? (removed from the address book, not dialed again) y yes · n no"
}

// peerActionMsg reports what the node said to an action.
type peerActionMsg struct {
	act  peerAction
	addr string
	d    time.Duration
	err  error
}

// askPeer asks the user to confirm act on addr.
func (m *Model) askPeer(act peerAction, addr string) {
	if addr == "" {
		m.setStatus(statusInfo, "no peer selected")
		return
	}
	m.confirm = &confirmation{act: act, addr: addr, ban: defaultBan}
}

// confirmKey handles a key while a confirmation is asked: y or Enter runs
// the action, n or Esc drops it, 1–4 and ←/→ choose a ban's length; other
// keys are ignored so a stray key cannot act.
func (m *Model) confirmKey(msg tea.KeyPressMsg) tea.Cmd {
	c := m.confirm
	k := m.keys
	switch {
	case key.Matches(msg, k.Yes):
		m.confirm = nil
		return m.runPeerAction(*c)
	case key.Matches(msg, k.No):
		m.confirm = nil
		m.setStatus(statusInfo, c.act.verb()+": cancelled")
		return nil
	}
	if c.act == actBan {
		s := msg.String()
		switch {
		case s >= "1" && s <= fmt.Sprint(len(banChoices)) && len(s) == 1:
			c.ban = int(s[0] - '1')
		case s == "left" || s == "h":
			c.ban = max(0, c.ban-1)
		case s == "right" || s == "l":
			c.ban = min(len(banChoices)-1, c.ban+1)
		}
	}
	return nil
}

// runPeerAction hands a confirmed action to the node.
func (m *Model) runPeerAction(c confirmation) tea.Cmd {
	n, ctx := m.n, m.ctx
	m.setStatus(statusInfo, c.act.verb()+" "+Sanitize(c.addr)+"…")
	d := banChoices[clamp(c.ban, 0, len(banChoices)-1)]
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		var err error
		switch c.act {
		case actDisconnect:
			err = n.Disconnect(ctx, c.addr)
		case actBan:
			err = n.Ban(ctx, c.addr, d, "")
		case actUnban:
			err = n.Unban(ctx, c.addr)
		case actForget:
			err = n.Forget(ctx, c.addr)
		}
		return peerActionMsg{act: c.act, addr: c.addr, d: d, err: err}
	}
}

// peerActionDone reports the node's answer in the status line.
func (m *Model) peerActionDone(msg peerActionMsg) tea.Cmd {
	addr := Sanitize(msg.addr)
	if msg.err != nil {
		m.setStatus(statusBad, msg.act.verb()+" "+addr+": "+Sanitize(msg.err.Error()))
		return m.readPeers()
	}
	switch msg.act {
	case actDisconnect:
		m.setStatus(statusOK, "disconnected "+addr)
	case actBan:
		m.setStatus(statusOK, "banned "+addr+" for "+banLabel(msg.d))
	case actUnban:
		m.setStatus(statusOK, "unbanned "+addr)
	case actForget:
		m.setStatus(statusOK, "forgot "+addr)
	}
	return m.readPeers()
}

// peerKey handles the peer keys (d, b, u, x, B) in the peers pane and in
// a peer's detail; it reports whether msg was one.
func (m *Model) peerKey(msg tea.KeyPressMsg) (bool, tea.Cmd) {
	k := m.keys
	var addr string
	switch {
	case m.focus == focusPeers:
		if pi, ok := m.peers.Selected(); ok {
			addr = pi.Addr
		}
	case m.focus == focusDetail && m.detail.peer != nil:
		addr = m.detail.peer.Addr
	case m.focus == focusDetail && m.detail.bansList:
		if key.Matches(msg, k.Unban) {
			if b, ok := m.detail.selectedBan(); ok {
				m.askPeer(actUnban, b.Addr)
			}
			return true, nil
		}
		return false, nil
	default:
		return false, nil
	}
	switch {
	case key.Matches(msg, k.Disconnect):
		m.askPeer(actDisconnect, addr)
	case key.Matches(msg, k.Ban):
		m.askPeer(actBan, addr)
	case key.Matches(msg, k.Unban):
		m.askPeer(actUnban, addr)
	case key.Matches(msg, k.Forget):
		m.askPeer(actForget, addr)
	case key.Matches(msg, k.Bans):
		m.openBans()
	default:
		return false, nil
	}
	return true, nil
}

// openPeer shows the selected peer in full; it follows the peer's updates.
func (m *Model) openPeer() {
	pi, ok := m.peers.Selected()
	if !ok {
		return
	}
	m.detail = detailPane{st: m.st, peer: &pi, bans: m.bans, spread: m.state.spread}
	m.focus, m.detailFrom = focusDetail, focusPeers
}

// openBans lists the bans and penalties in force.
func (m *Model) openBans() {
	m.detail = detailPane{st: m.st, bansList: true, bans: m.bans}
	m.focus, m.detailFrom = focusDetail, focusPeers
}

// showPeerDetail keeps an open peer detail or bans list current.
func (m *Model) showPeerDetail() {
	if m.focus != focusDetail {
		return
	}
	m.detail.bans = m.bans
	if m.detail.peer == nil {
		m.detail.Scroll(0)
		return
	}
	for _, pi := range m.state.Peers {
		if pi.Addr == m.detail.peer.Addr {
			p := pi
			m.detail.peer, m.detail.gone = &p, false
			return
		}
	}
	m.detail.gone = true
}

// isPeerEvent: events after which the table is read again at once.
func isPeerEvent(p node.Payload) bool {
	switch p.(type) {
	case node.PeerOnline, node.PeerOffline, node.PeerPenalized, node.PeerDialFailed,
		node.PeerForgotten, node.PeerDisconnected, node.PeerBanned, node.PeerUnbanned:
		return true
	}
	return false
}
