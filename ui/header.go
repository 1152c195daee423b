package ui

import (
	"fmt"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/meshchain/meshchain/node"
)

// header is two lines: the node's name and sync state in words, then the
// figures (height, tip, network, address, wallet).
func (m Model) header(w int) string {
	st := m.st
	title := m.title()
	words, style := m.syncWords()
	left := st.Title.Render(title) + "  " + style.Render(words)

	online, known := m.state.Sync.Online, m.state.Sync.Known
	right := st.Label.Render("peers ") + st.Value.Render(fmt.Sprintf("%d/%d", online, known)) + st.Label.Render(" online")
	switch {
	case m.snapErr != nil:
		right = st.Bad.Render("node not answering: " + Sanitize(m.snapErr.Error()))
	case m.streamed:
		right = st.Warn.Render("event stream ended")
	}
	if !m.haveSnap && m.state.Listen == "" {
		right = ""
	}
	if m.unread > 0 {
		// Messages addressed to us since the Messages view was open.
		left += "  " + st.Warn.Bold(true).Render(fmt.Sprintf("✉ %d to you (m)", m.unread))
	}
	line1 := spread(left, right, w)

	pair := func(label, value string) string {
		if value == "" {
			value = "-"
		}
		return st.Label.Render(label+" ") + st.Value.Render(value)
	}
	fields := []string{
		pair("height", commas(m.state.Height)),
		pair("tip", shortHash(m.state.Tip)),
		pair("net", shortHash(m.state.Genesis)),
		pair("node", Sanitize(m.state.Listen)),
		pair("wallet", short(m.state.Sender)),
	}
	if !m.haveSnap && m.state.Listen == "" {
		fields = []string{st.Dim.Render("connecting to the node…")}
	}
	line2 := fit(strings.Join(fields, "  "), w)
	return lipgloss.JoinVertical(lipgloss.Left, fit(line1, w), line2)
}

// syncWords says in words where the node stands with its peers.
func (m Model) syncWords() (string, lipgloss.Style) {
	st := m.st
	if !m.haveSnap {
		return "waiting for the node…", st.Dim
	}
	s := m.state.Sync
	online, known := m.state.Sync.Online, m.state.Sync.Known
	switch {
	case s.Syncing && s.Peer != "":
		words := "syncing from " + Sanitize(s.Peer)
		if behind := m.state.SyncBehind(); behind > 0 {
			words += fmt.Sprintf(", %s %s behind", commas(behind), plural(behind, "block", "blocks"))
		}
		return words, st.Warn
	case s.Syncing:
		return "syncing", st.Warn
	case known == 0:
		return "alone: no peers", st.Bad
	case online == 0:
		return fmt.Sprintf("alone: none of %d known %s online", known, plural(uint64(known), "peer is", "peers are")), st.Bad
	}
	if addr, ahead := highestPeer(m.state.Peers, m.state.Height); ahead >= behindAfter {
		// Not "in sync" while an online peer is well ahead and no round
		// runs: the user can start one.
		return fmt.Sprintf("%s %s behind %s, not syncing: press s", commas(ahead), plural(ahead, "block", "blocks"), Sanitize(addr)), st.Warn
	}
	return fmt.Sprintf("in sync with %d %s", online, plural(uint64(online), "peer", "peers")), st.OK
}

// behindAfter is how many blocks an online peer must be ahead before the
// header stops saying "in sync": one is a block still propagating.
const behindAfter = 2

// highestPeer is the online peer with the greatest height and how many
// blocks it is ahead of the node (0 when none is).
func highestPeer(peers []node.PeerInfo, height uint64) (addr string, ahead uint64) {
	for _, p := range peers {
		if p.Status == node.PeerOnlineStatus && p.Height > height && p.Height-height > ahead {
			addr, ahead = p.Addr, p.Height-height
		}
	}
	return addr, ahead
}

// title is "meshchain", or the caller's title, prefixed with "meshchain · "
// unless it already names the program.
func (m Model) title() string {
	t := Sanitize(m.opts.Title)
	switch {
	case t == "":
		return "meshchain"
	case strings.HasPrefix(strings.ToLower(t), "meshchain"):
		return t
	}
	return "meshchain · " + t
}
