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

func (p *peersPane) Page(dir int) { p.Scroll(dir * max(1, p.visible()-1)) }
func (p *peersPane) Home()        { p.offset = 0 }
func (p *peersPane) End()         { p.Scroll(len(p.peers)) }

// peerColumn is one column of the table; columns with a higher drop value
// are left out first when the pane is narrow.
type peerColumn struct {
	title string
	width int
	right bool
	drop  int
	cell  func(node.PeerInfo) string
}

func (p *peersPane) View() string {
	title := fmt.Sprintf("Peers %d/%d online", p.online, p.known)
	note := ""
	for _, pi := range p.peers {
		if pi.SyncPeer {
			note = "▶ sync peer"
		}
	}
	return p.st.box(title, note, "", p.lines(p.w-4), p.w, p.h, p.focused)
}

func (p *peersPane) lines(w int) []string {
	if len(p.peers) == 0 {
		return []string{
			p.st.Dim.Render("no peers yet: alone on this network"),
			p.st.Dim.Render("press a to add one (host:port)"),
		}
	}
	addrW := len("address")
	for _, pi := range p.peers {
		addrW = max(addrW, len(Sanitize(pi.Addr)))
	}
	addrW = min(addrW, 28)
	cols := []peerColumn{
		{title: "address", width: addrW, cell: func(pi node.PeerInfo) string { return Sanitize(pi.Addr) }},
		{title: "status", width: 10, drop: 2, cell: func(pi node.PeerInfo) string { return string(pi.Status) }},
		{title: "avg", width: 7, right: true, cell: func(pi node.PeerInfo) string { return rtt(pi.SmoothRTT) }},
		{title: "last", width: 7, right: true, drop: 5, cell: func(pi node.PeerInfo) string { return rtt(pi.LastRTT) }},
		{title: "min", width: 7, right: true, drop: 6, cell: func(pi node.PeerInfo) string { return rtt(pi.MinRTT) }},
		{title: "height", width: 8, right: true, drop: 3, cell: func(pi node.PeerInfo) string { return commas(pi.Height) }},
		{title: "changed", width: 11, right: true, drop: 4, cell: func(pi node.PeerInfo) string { return ago(p.now, pi.LastChange) }},
		{title: "note", cell: peerNote},
	}
	hasNote := false
	for _, pi := range p.peers {
		hasNote = hasNote || peerNote(pi) != ""
	}
	cols = fitColumns(cols, w, hasNote)

	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = cell(c.title, c)
	}
	head := "  " + strings.Join(titles, " ")
	lines := []string{p.st.ColHeader.Render(fit(head, w))}
	n := p.visible()
	for i := p.offset; i < len(p.peers) && i < p.offset+n; i++ {
		pi := p.peers[i]
		mark := "  "
		if pi.SyncPeer {
			mark = "▶ "
		}
		var row strings.Builder
		row.WriteString(mark)
		sep := ""
		hasStatus := false
		for _, c := range cols {
			hasStatus = hasStatus || c.title == "status"
		}
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

// fitColumns keeps the columns that fit in w: it drops the least useful
// first (min, last, changed, height), then narrows the address, and drops
// the status last (colour and order still tell it). The note column takes
// the width left, or goes when that is under 10 cells; when some peer has a
// note, min and last make room for it.
func fitColumns(cols []peerColumn, w int, hasNote bool) []peerColumn {
	width := func(cs []peerColumn) int {
		used := 2
		for _, c := range cs {
			if c.title != "note" {
				used += c.width + 1
			}
		}
		return used - 1
	}
	dropLevel := func(level int) {
		var kept []peerColumn
		for _, c := range cols {
			if c.drop != level {
				kept = append(kept, c)
			}
		}
		cols = kept
	}
	natural := cols[0].width
	for level := 6; level >= 3 && width(cols) > w; level-- {
		dropLevel(level)
	}
	if over := width(cols) - w; over > 0 {
		cols[0].width = max(13, cols[0].width-over)
	}
	if width(cols) > w {
		dropLevel(2)
	}
	// Give the address back what dropping freed, or take what is missing.
	cols[0].width = clamp(cols[0].width+w-width(cols), 8, natural)
	// Notes (penalties, failed dials) say more than min and last RTT.
	for level := 6; hasNote && level >= 5 && w-width(cols)-1 < 16; level-- {
		dropLevel(level)
	}
	last := len(cols) - 1
	if cols[last].title == "note" {
		room := w - width(cols) - 1
		if room < 10 {
			cols = cols[:last]
		} else {
			cols[last].width = room
		}
	}
	return cols
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
