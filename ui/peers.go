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

	// cursor is the selected row; selAddr keeps it on the same peer when
	// the rows move (a new latency, a peer going offline).
	cursor  int
	selAddr string
	sortBy  peerSort
	// frozen keeps the rows in the order they had when f was pressed, so
	// they stop moving under the cursor; new peers join at the end.
	frozen bool
	// spread gives each peer's first-delivered share, for that order;
	// shared with the State.
	spread *spreadBook
	hist   *history // the round trips' trend
}

// peerSort is the order of the table, cycled by o.
type peerSort int

const (
	sortLatency peerSort = iota // online first, then nearest (the default)
	sortHeight                  // highest announced height first
	sortStatus                  // by status, then the latest change first
	sortFirst                   // the largest share of blocks delivered first, first
	numPeerSorts
)

func (s peerSort) String() string {
	switch s {
	case sortHeight:
		return "height"
	case sortStatus:
		return "status"
	case sortFirst:
		return "first-delivered"
	}
	return "latency"
}

func (p *peersPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.Scroll(0)
}

func (p *peersPane) visible() int { return max(1, p.h-3) }

// byLatency: online first (the network's one status order), then by
// smoothed latency (unmeasured last).
func byLatency(a, b node.PeerInfo) int {
	if ra, rb := a.Status.Rank(), b.Status.Rank(); ra != rb {
		return ra - rb
	}
	if (a.SmoothRTT > 0) != (b.SmoothRTT > 0) {
		if a.SmoothRTT > 0 {
			return -1
		}
		return 1
	}
	switch {
	case a.SmoothRTT < b.SmoothRTT:
		return -1
	case a.SmoothRTT > b.SmoothRTT:
		return 1
	}
	return 0
}

// less is the order of sort s; the address breaks ties, so it is stable.
func (s peerSort) less(a, b node.PeerInfo) bool {
	c := 0
	switch s {
	case sortHeight:
		ka, kb := peerHeight(a) != "-", peerHeight(b) != "-"
		switch {
		case ka != kb:
			return ka
		case a.Height != b.Height:
			return a.Height > b.Height
		}
		c = byLatency(a, b)
	case sortStatus:
		if ra, rb := a.Status.Rank(), b.Status.Rank(); ra != rb {
			return ra < rb
		}
		if !a.LastChange.Equal(b.LastChange) {
			return a.LastChange.After(b.LastChange)
		}
	default:
		c = byLatency(a, b)
	}
	if c != 0 {
		return c < 0
	}
	return a.Addr < b.Addr
}

// byFirstDelivered orders peers by the share of relayed blocks they
// delivered first (the larger first), then by how many, then as by latency;
// peers that delivered none go last.
func byFirstDelivered(b *spreadBook, peers []node.PeerInfo) func(a, b node.PeerInfo) bool {
	d := make(map[string]peerDelivery, len(peers))
	for _, pi := range peers {
		d[pi.Addr] = b.delivery(pi.Addr)
	}
	return func(x, y node.PeerInfo) bool {
		dx, dy := d[x.Addr], d[y.Addr]
		switch {
		case (dx.Delivered > 0) != (dy.Delivered > 0):
			return dx.Delivered > 0
		case dx.Share() != dy.Share():
			return dx.Share() > dy.Share()
		case dx.First != dy.First:
			return dx.First > dy.First
		}
		return sortLatency.less(x, y)
	}
}

// SetPeers copies and sorts the peers by the pane's order (when frozen,
// rows keep their places and new peers join at the end). The cursor stays
// on the peer it was on.
func (p *peersPane) SetPeers(peers []node.PeerInfo, online, known int) {
	fresh := append([]node.PeerInfo(nil), peers...)
	less := p.sortBy.less
	if p.sortBy == sortFirst {
		less = byFirstDelivered(p.spread, fresh)
	}
	sort.SliceStable(fresh, func(i, j int) bool { return less(fresh[i], fresh[j]) })
	if p.frozen {
		at := map[string]int{}
		for i, pi := range p.peers {
			at[pi.Addr] = i
		}
		sort.SliceStable(fresh, func(i, j int) bool {
			ai, aok := at[fresh[i].Addr]
			bi, bok := at[fresh[j].Addr]
			switch {
			case aok && bok:
				return ai < bi
			case aok != bok:
				return aok
			}
			return false
		})
	}
	p.peers = fresh
	p.online, p.known = online, known
	p.follow()
}

// follow puts the cursor back on the selected peer after the rows changed.
func (p *peersPane) follow() {
	if p.selAddr != "" {
		for i, pi := range p.peers {
			if pi.Addr == p.selAddr {
				p.cursor = i
			}
		}
	}
	p.Scroll(0)
}

// CycleSort moves to the next order (o).
func (p *peersPane) CycleSort() {
	p.sortBy = (p.sortBy + 1) % numPeerSorts
	p.resort()
}

// ToggleFreeze stops or restarts the rows' moving (f).
func (p *peersPane) ToggleFreeze() {
	p.frozen = !p.frozen
	p.resort()
}

func (p *peersPane) resort() {
	frozen := p.frozen
	p.frozen = false
	p.SetPeers(p.peers, p.online, p.known)
	p.frozen = frozen
}

// Scroll moves the cursor; the window follows it.
func (p *peersPane) Scroll(delta int) {
	if len(p.peers) == 0 {
		p.cursor, p.offset, p.selAddr = 0, 0, ""
		return
	}
	p.cursor = clamp(p.cursor+delta, 0, len(p.peers)-1)
	p.selAddr = p.peers[p.cursor].Addr
	n := p.visible()
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+n {
		p.offset = p.cursor - n + 1
	}
	p.offset = clamp(p.offset, 0, max(0, len(p.peers)-n))
}

// Selected is the peer under the cursor.
func (p *peersPane) Selected() (node.PeerInfo, bool) {
	if p.cursor < 0 || p.cursor >= len(p.peers) {
		return node.PeerInfo{}, false
	}
	return p.peers[p.cursor], true
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
	var notes []string
	for _, pi := range p.peers {
		if pi.SyncPeer {
			notes = append(notes, "▶ sync peer")
		}
	}
	if p.sortBy != sortLatency {
		notes = append(notes, "by "+p.sortBy.String())
	}
	if p.frozen {
		notes = append(notes, "frozen")
	}
	note := strings.Join(notes, " · ")
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
	cols := []peerColumn{
		{title: "address", width: addrW, cell: func(pi node.PeerInfo) string { return Sanitize(pi.Addr) }},
		{title: "status", width: statusWidth, prio: 2, cell: func(pi node.PeerInfo) string { return string(pi.Status) }},
		{title: "last", width: rttWidth, right: true, prio: 5, cell: func(pi node.PeerInfo) string { return rtt(pi.LastRTT) }},
		{title: "avg", width: rttWidth, right: true, prio: 1, cell: func(pi node.PeerInfo) string { return rtt(pi.SmoothRTT) }},
		{title: "min", width: rttWidth, right: true, prio: 6, cell: func(pi node.PeerInfo) string { return rtt(pi.MinRTT) }},
		{title: "height", width: heightW, right: true, prio: 3, cell: peerHeight},
		{title: "changed", width: changedWidth, right: true, prio: 4, cell: func(pi node.PeerInfo) string { return ago(p.now, pi.LastChange) }},
		{title: "note", prio: 7, cell: func(pi node.PeerInfo) string { return peerNote(pi, p.now) }},
	}
	for _, pi := range p.peers {
		if p.trend(pi) != "" {
			// Only once some peer has a trend to draw.
			trend := peerColumn{title: "rtt trend", width: trendWidth, prio: 8, cell: p.trend}
			return append(cols[:len(cols)-1:len(cols)-1], trend, cols[len(cols)-1])
		}
	}
	return cols
}

// trendWidth is the round-trip sparkline's width, in the table when the
// pane is wide enough.
const trendWidth = 12

// trend is a peer's last round trips as measured, a sparkline on its own
// scale (its max), from the dashboard's history.
func (p *peersPane) trend(pi node.PeerInfo) string {
	if p.hist == nil {
		return ""
	}
	ps := p.hist.peers[pi.Addr]
	if ps == nil || len(ps.rtts) < 2 {
		return ""
	}
	rtts := ps.rtts
	if len(rtts) > trendWidth {
		rtts = rtts[len(rtts)-trendWidth:]
	}
	return chart(rtts, trendWidth, 1, maxOf(rtts))[0]
}

// fullWidth is the pane width that shows every column but the notes.
func (p *peersPane) fullWidth() int {
	used := 2
	for _, c := range p.columns() {
		if c.title != "note" && c.title != "rtt trend" {
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
		hasNote = hasNote || peerNote(pi, p.now) != ""
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
		switch {
		case i == p.cursor && p.focused:
			line = p.st.Selected.Render(fit(ansi.Strip(row.String()), w))
		case pi.Status == node.PeerOfflineStatus:
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
	// The round-trip trend where the row has room for it and a word of
	// note besides.
	for _, c := range cols {
		noteRoom := 0
		if hasNote {
			noteRoom = 1 + 2*minNoteWidth
		}
		if c.prio == 8 && used+1+c.width+noteRoom <= w {
			keep[c.title] = true
			used += 1 + c.width
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

// peerNote is what the row adds in words: inbound, a penalty, and for a
// peer that cannot be reached why the last dial failed and when the next
// one is.
func peerNote(pi node.PeerInfo, now time.Time) string {
	var notes []string
	if pi.Inbound {
		notes = append(notes, "inbound")
	}
	if pi.Status == node.PeerPenalizedStatus && pi.Penalty != "" {
		notes = append(notes, Sanitize(pi.Penalty))
	}
	if pi.Status != node.PeerOnlineStatus {
		if pi.LastError != "" {
			notes = append(notes, Sanitize(pi.LastError))
		}
		if pi.Failures > 0 {
			notes = append(notes, fmt.Sprintf("%d failed %s", pi.Failures, plural(uint64(pi.Failures), "dial", "dials")))
		}
		switch {
		case pi.Dialing:
			notes = append(notes, "dialing now")
		case !pi.NextDial.IsZero():
			notes = append(notes, "next try "+until(now, pi.NextDial))
		}
	}
	return strings.Join(notes, ", ")
}

// until says when t comes, from now: "in 8s" (rounded up), "now".
func until(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "now"
	}
	return "in " + coarse(d+time.Second-1)
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
