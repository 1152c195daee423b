package ui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/node"
)

// peersPane is the address book as a table, nearest online peer first;
// peers that are not online stay listed, greyed, below.
type peersPane struct {
	st      *Styles
	w, h    int
	focused bool

	peers  []node.PeerInfo
	online int
	known  int
	offset int
	now    time.Time
}

func (p *peersPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.offset = clamp(p.offset, 0, max(0, len(p.peers)-p.visible()))
}

func (p *peersPane) visible() int { return max(1, p.h-3) }

// statusRank orders the groups: online, connecting, penalised, offline.
func statusRank(s node.PeerStatus) int {
	switch s {
	case node.PeerOnlineStatus:
		return 0
	case node.PeerConnectingStatus:
		return 1
	case node.PeerPenalizedStatus:
		return 2
	default:
		return 3
	}
}

// SetPeers copies and sorts the peers: online first, then by smoothed
// latency (unmeasured last), then by address so the order is stable.
func (p *peersPane) SetPeers(peers []node.PeerInfo, online, known int) {
	p.peers = append([]node.PeerInfo(nil), peers...)
	sort.SliceStable(p.peers, func(i, j int) bool {
		a, b := p.peers[i], p.peers[j]
		if ra, rb := statusRank(a.Status), statusRank(b.Status); ra != rb {
			return ra < rb
		}
		if (a.SmoothRTT > 0) != (b.SmoothRTT > 0) {
			return a.SmoothRTT > 0
		}
		if a.SmoothRTT != b.SmoothRTT {
			return a.SmoothRTT < b.SmoothRTT
		}
		return a.Addr < b.Addr
	})
	p.online, p.known = online, known
	p.offset = clamp(p.offset, 0, max(0, len(p.peers)-p.visible()))
}

func (p *peersPane) Scroll(delta int) {
	p.offset = clamp(p.offset+delta, 0, max(0, len(p.peers)-p.visible()))
}

// peerColumn is one column of the table. prio says which columns a narrow
// pane keeps: lower first; the address (0) is always shown.
type peerColumn struct {
	title string
	width int
	right bool
	prio  int
	cell  func(node.PeerInfo) string
}

// Column widths: round trips are at most 5 cells ("336ms", "1.25s"),
// "changed" at most 10 ("59m59s ago").
const (
	rttWidth     = 5
	statusWidth  = len("connecting")
	changedWidth = len("59m59s ago")
	minNoteWidth = len("inbound")
	minAddrWidth = 13
	maxAddrWidth = 28
)

func (p *peersPane) View() string {
	title := fmt.Sprintf("Peers %d/%d online", p.online, p.known)
	note := ""
	for _, pi := range p.peers {
		if pi.SyncPeer {
			note = "▶ sync peer"
		}
	}
	// Rows out of view are counted in the bottom border, so a short pane
	// does not hide that an offline peer is listed below.
	var hidden []string
	if p.offset > 0 {
		hidden = append(hidden, fmt.Sprintf("%d above", p.offset))
	}
	if below := len(p.peers) - p.offset - p.visible(); below > 0 {
		hidden = append(hidden, fmt.Sprintf("%d more below", below))
	}
	status := ""
	if len(hidden) > 0 {
		status = p.st.Dim.Render(strings.Join(hidden, " · "))
	}
	return p.st.box(title, note, status, p.lines(p.w-4), p.w, p.h, p.focused)
}

// columns are all the table's columns in display order, sized for the
// current peers.
func (p *peersPane) columns() []peerColumn {
	addrW := len("address")
	heightW := len("height")
	for _, pi := range p.peers {
		addrW = max(addrW, lipgloss.Width(Sanitize(pi.Addr)))
		heightW = max(heightW, len(peerHeight(pi)))
	}
	addrW = min(addrW, maxAddrWidth)
	return []peerColumn{
		{title: "address", width: addrW, cell: func(pi node.PeerInfo) string { return Sanitize(pi.Addr) }},
		{title: "status", width: statusWidth, prio: 2, cell: func(pi node.PeerInfo) string { return string(pi.Status) }},
		{title: "last", width: rttWidth, right: true, prio: 5, cell: func(pi node.PeerInfo) string { return rtt(pi.LastRTT) }},
		{title: "avg", width: rttWidth, right: true, prio: 1, cell: func(pi node.PeerInfo) string { return rtt(pi.SmoothRTT) }},
		{title: "min", width: rttWidth, right: true, prio: 6, cell: func(pi node.PeerInfo) string { return rtt(pi.MinRTT) }},
		{title: "height", width: heightW, right: true, prio: 3, cell: peerHeight},
		{title: "changed", width: changedWidth, right: true, prio: 4, cell: func(pi node.PeerInfo) string { return ago(p.now, pi.LastChange) }},
		{title: "note", prio: 7, cell: peerNote},
	}
}

// fullWidth is the pane width that shows every column but the notes.
func (p *peersPane) fullWidth() int {
	used := 2
	for _, c := range p.columns() {
		if c.title != "note" {
			used += c.width + 1
		}
	}
	return used - 1 + 4
}

func (p *peersPane) lines(w int) []string {
	if len(p.peers) == 0 {
		return []string{
			p.st.Dim.Render("no peers yet: alone"),
			p.st.Dim.Render("press a to add one"),
		}
	}
	hasNote := false
	for _, pi := range p.peers {
		hasNote = hasNote || peerNote(pi) != ""
	}
	cols := fitColumns(p.columns(), w, hasNote)
	hasStatus := false
	for _, c := range cols {
		hasStatus = hasStatus || c.title == "status"
	}

	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = cell(c.title, c)
	}
	head := "  " + strings.Join(titles, " ")
	lines := []string{p.st.ColHeader.Render(fit(head, w))}
	n := p.visible()
	for i := p.offset; i < len(p.peers) && i < p.offset+n; i++ {
		pi := p.peers[i]
		mark := statusMark(pi)
		var row strings.Builder
		row.WriteString(mark)
		sep := ""
		for _, c := range cols {
			text := cell(c.cell(pi), c)
			if (c.title == "status" || c.title == "address" && !hasStatus) && pi.Status != node.PeerOfflineStatus {
				text = p.statusStyle(pi.Status).Render(text)
			}
			row.WriteString(sep + text)
			sep = " "
		}
		line := fit(row.String(), w)
		if pi.Status == node.PeerOfflineStatus {
			line = p.st.Offline.Render(fit(ansi.Strip(row.String()), w))
		}
		lines = append(lines, line)
	}
	return lines
}

// fitColumns keeps the columns that fit in w, in display order: the address
// always, then by priority the smoothed round trip, status, height, last
// change, last and minimum round trip. The address gives up to
// minAddrWidth-wide cells for the first two. Notes (inbound, penalty
// reasons, failed dials) take whatever width is left, when that is enough to
// read a word.
func fitColumns(cols []peerColumn, w int, hasNote bool) []peerColumn {
	addr := cols[0]
	used := 2 + addr.width
	if used > w {
		addr.width = max(1, w-2)
		return []peerColumn{addr}
	}
	keep := map[string]bool{}
	var note *peerColumn
	for prio := 1; prio <= 6; prio++ {
		for _, c := range cols {
			if c.prio != prio {
				continue
			}
			need := used + 1 + c.width
			if need > w && prio <= 2 && need-w <= addr.width-minAddrWidth {
				addr.width -= need - w
				used -= need - w
			}
			if used+1+c.width <= w {
				keep[c.title] = true
				used += 1 + c.width
			}
		}
	}
	for i := range cols {
		if cols[i].title == "note" {
			note = &cols[i]
		}
	}
	out := []peerColumn{addr}
	for _, c := range cols[1:] {
		if keep[c.title] {
			out = append(out, c)
		}
	}
	if room := w - used - 1; hasNote && note != nil && room >= minNoteWidth {
		n := *note
		n.width = room
		out = append(out, n)
	}
	return out
}

// statusMark leads a peer's row: the sync peer, or a text marker for the
// statuses that colour alone would show (NO_COLOR terminals keep only faint
// text, which some draw like any other).
func statusMark(pi node.PeerInfo) string {
	switch {
	case pi.SyncPeer:
		return "▶ "
	case pi.Status == node.PeerOfflineStatus:
		return "✕ "
	case pi.Status == node.PeerPenalizedStatus:
		return "! "
	}
	return "  "
}

// peerHeight is the height a peer announced, or "-" for an address never
// reached (no node id yet), whose height is unknown rather than 0.
func peerHeight(pi node.PeerInfo) string {
	if pi.NodeID == "" && pi.Height == 0 {
		return "-"
	}
	return commas(pi.Height)
}

func cell(s string, c peerColumn) string {
	if c.right {
		return fitRight(s, c.width)
	}
	return fit(s, c.width)
}

func peerNote(pi node.PeerInfo) string {
	var notes []string
	if pi.Inbound {
		notes = append(notes, "inbound")
	}
	if pi.Status == node.PeerPenalizedStatus && pi.Penalty != "" {
		notes = append(notes, Sanitize(pi.Penalty))
	}
	if pi.Failures > 0 {
		notes = append(notes, fmt.Sprintf("%d failed %s", pi.Failures, plural(uint64(pi.Failures), "dial", "dials")))
	}
	return strings.Join(notes, ", ")
}

func (p *peersPane) statusStyle(s node.PeerStatus) lipgloss.Style {
	switch s {
	case node.PeerOnlineStatus:
		return p.st.OK
	case node.PeerConnectingStatus:
		return p.st.Warn
	case node.PeerPenalizedStatus:
		return p.st.Bad
	}
	return p.st.Dim
}
