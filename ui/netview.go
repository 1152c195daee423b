package ui

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/node"
)

// netPane is the Network view (w), drawn over the whole body: this node in
// the centre of a radar, each peer at a distance that grows with its
// smoothed round trip on a log scale (rings at 1 ms, 10 ms, 100 ms and
// 1 s), in a direction fixed by a hash of its address so it does not move
// between frames; beside it the peers by latency with their first-delivered
// share and median lag, and the spread of the block selected in the Chain
// pane: which peer delivered it first and how late every other copy came.
//
// Its inputs are handed in by the model before each draw (netView): the
// Model is copied by Bubble Tea, so the pane keeps no pointer into it.
type netPane struct {
	st   *Styles
	open bool
	w, h int

	peers  []node.PeerInfo
	spread *spreadBook
	block  node.BlockSummary // the Chain pane's selection
	picked bool              // block is set
	recent []node.BlockSummary
	graph  devGraph // in a devnet: drawn instead of the radar unless graph.radar
	devnet bool
}

var _ pane = (*netPane)(nil)

func (p *netPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *netPane) Scroll(int)       {} // the arrows move the Chain pane's selection (netKey)
func (p *netPane) visible() int     { return max(1, p.h-2) }
func (p *netPane) help(k keyMap) []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "select block"))
	out := []key.Binding{move, relabel(k.Open, "block detail")}
	if p.devnet {
		out = append(out, graphRadarKey)
	}
	return append(out, relabel(k.Network, "close"), relabel(k.Copy, "copy block hash"))
}

// graphRadarKey switches, in a devnet, between the devnet's graph and
// this node's radar.
var graphRadarKey = key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "devnet graph/radar"))

// netView hands the pane the model's state and draws it in the body.
func (m Model) netView(w, h int) string {
	body := max(4, h-headerHeight-3-lipgloss.Height(m.footer(w)))
	p := m.net
	p.SetSize(w, body)
	p.peers, p.spread = m.state.Peers, m.state.spread
	p.block, p.picked = m.chain.Selected()
	p.recent = m.state.Recent(keepSpread)
	p.graph, p.devnet = m.graph, m.opts.Devnet != nil
	p.graph.nodes = m.devnet.nodes
	return p.View()
}

// graphShown: the network view is open in a devnet and shows its graph.
func (m *Model) graphShown() bool {
	return m.net.open && m.opts.Devnet != nil && !m.graph.radar
}

// refreshGraph reads the spread of the Chain pane's selection from the
// devnet; another block's replay starts from the beginning.
func (m *Model) refreshGraph() {
	if m.opts.Devnet == nil {
		return
	}
	b, ok := m.chain.Selected()
	var sp DevnetSpread
	if ok {
		sp, ok = m.opts.Devnet.Spread(b.Hash)
	}
	if !ok {
		m.graph.spread, m.graph.has = DevnetSpread{}, false
		return
	}
	if !m.graph.has || sp.Hash != m.graph.spread.Hash {
		// From the beginning, now (the last frame's time may be long
		// past when the block was picked on the radar).
		m.graph.now = m.now()
		m.graph.start = m.graph.now
	}
	m.graph.spread, m.graph.has = sp, true
}

// replay schedules the replay's next frame, unless one is on its way or
// nothing would move: the graph hidden (by the radar, the help or another
// view), no block's way to show, or one that has reached no other node
// yet. The second's tick looks again (refreshGraph), so a way that grows
// starts the frames.
func (m *Model) replay() tea.Cmd {
	if m.graph.ticking || !m.graphShown() || m.showHelp || !m.graph.has || m.graph.total() <= 0 {
		return nil
	}
	m.graph.ticking = true
	return graphTick()
}

// openGraph readies the devnet graph as the view opens or comes back
// from the radar: the links and nodes now, the selection's spread, the
// replay's frames.
func (m *Model) openGraph() tea.Cmd {
	if !m.graphShown() {
		return nil
	}
	m.graph.links = m.opts.Devnet.Links()
	m.devnet.nodes = m.opts.Devnet.Nodes()
	m.graph.now = m.now()
	m.refreshGraph()
	return m.replay()
}

// netKey opens and closes the view and, while it is open, takes the keys it
// uses: the arrows select the block whose spread is drawn, Enter opens it.
// Keys of other panes are not passed on (they would act on rows out of
// sight); quitting, help, writing, sync, adding a peer and y (the selected
// block) still work, and D and m open their views in its place.
func (m *Model) netKey(msg tea.KeyPressMsg) (bool, tea.Cmd) {
	k := m.keys
	if !m.net.open {
		if key.Matches(msg, k.Network) {
			m.net.open = true
			return true, m.openGraph()
		}
		return false, nil
	}
	switch {
	case m.showHelp && key.Matches(msg, k.Close):
		m.showHelp = false
		return true, m.replay()
	case key.Matches(msg, k.Network), key.Matches(msg, k.Close):
		m.net.open = false
	case key.Matches(msg, k.Open):
		m.net.open = false
		if m.focus == focusDetail {
			m.focus = m.detailFrom
		}
		return true, m.openDetail()
	case key.Matches(msg, k.Up), key.Matches(msg, k.Down), key.Matches(msg, k.PageUp),
		key.Matches(msg, k.PageDown), key.Matches(msg, k.Top), key.Matches(msg, k.Bottom):
		m.scrollKeys(msg, &m.chain)
		m.refreshGraph()
		return true, m.replay()
	case m.opts.Devnet != nil && key.Matches(msg, graphRadarKey):
		m.graph.radar = !m.graph.radar
		return true, m.openGraph()
	case key.Matches(msg, k.Quit), key.Matches(msg, k.Help), key.Matches(msg, k.Compose),
		key.Matches(msg, k.Sync), key.Matches(msg, k.AddPeer), key.Matches(msg, k.Copy):
		return false, nil // y copies the selected block's hash (copyables)
	case key.Matches(msg, k.Devnet), key.Matches(msg, k.Messages):
		// The other views over the body: the network view gives way.
		m.net.open = false
		return false, nil
	}
	return true, nil
}

// netMouse: over the network view the wheel moves the block whose spread
// is drawn; clicks would land on panes out of sight and are ignored.
func (m *Model) netMouse(msg tea.MouseMsg) tea.Cmd {
	if _, ok := msg.(tea.MouseWheelMsg); !ok {
		return nil
	}
	switch msg.Mouse().Button {
	case tea.MouseWheelUp:
		m.chain.Scroll(-1)
	case tea.MouseWheelDown:
		m.chain.Scroll(1)
	}
	m.refreshGraph()
	return m.replay()
}

// The radar's scale: round trips from netMinRTT (the innermost ring) to
// netMaxRTT (the outermost), logarithmic, so 1 ms and 300 ms both fit.
const (
	netMinRTT = 100 * time.Microsecond
	netMaxRTT = time.Second
)

var netRings = []struct {
	rtt   time.Duration
	label string
}{{time.Millisecond, "1ms"}, {10 * time.Millisecond, "10ms"}, {100 * time.Millisecond, "100ms"}, {time.Second, "1s"}}

// Glyphs of the radar, readable without colour.
const (
	glyphSelf       = "◉"
	glyphNearest    = "◆" // the nearest online peer: the one sync asks first
	glyphOnline     = "●"
	glyphConnecting = "○"
	glyphOffline    = "✕"
	glyphPenalized  = "!"
	glyphRing       = "·"
)

// netSpot is a peer's place on the radar, in cells of its canvas.
type netSpot struct {
	X, Y  int
	Glyph string
	Label string // its key in the legend
	Peer  node.PeerInfo
}

// netGeometry is the radar's frame: the centre and the outer radius in
// rows (a cell is about twice as tall as wide, so x runs twice as fast).
type netGeometry struct {
	cx, cy int
	radius float64
}

func radarGeometry(w, h int) netGeometry {
	const labelRoom = 2 // a peer's label follows its glyph
	r := math.Floor(min(float64(h-1)/2, float64(w-1-labelRoom)/4))
	return netGeometry{cx: (w - labelRoom) / 2, cy: (h - 1) / 2, radius: max(r, 1)}
}

// distance is how far from the centre, in rows, a round trip is drawn: the
// innermost row stays for this node, an unmeasured peer sits on the outer
// ring.
func (g netGeometry) distance(rtt time.Duration) float64 {
	const inner = 1.0
	if rtt <= 0 {
		return g.radius
	}
	f := math.Log10(float64(rtt)/float64(netMinRTT)) / math.Log10(float64(netMaxRTT)/float64(netMinRTT))
	f = min(max(f, 0), 1)
	return inner + (g.radius-inner)*f
}

// at is the cell at distance r (rows) and angle a.
func (g netGeometry) at(r, a float64) (int, int) {
	return g.cx + int(math.Round(2*r*math.Cos(a))), g.cy + int(math.Round(r*math.Sin(a)))
}

// ringLabel is where the figure of the ring at rtt starts: on the ring,
// just right of its top.
func (g netGeometry) ringLabel(rtt time.Duration) (int, int) {
	_, y := g.at(g.distance(rtt), -math.Pi/2)
	return g.cx + 1, y
}

// peerAngle is a peer's direction, from a hash of its address: the same in
// every frame and on every run.
func peerAngle(addr string) float64 {
	h := fnv.New32a()
	h.Write([]byte(addr))
	return float64(h.Sum32()) / (1 << 32) * 2 * math.Pi
}

// nearestOnline is the address of the online peer with the smallest
// measured round trip (sync asks the nearest first); "" when none.
func nearestOnline(peers []node.PeerInfo) string {
	best := ""
	var bestRTT time.Duration
	for _, pi := range peers {
		if pi.Status != node.PeerOnlineStatus || pi.SmoothRTT <= 0 {
			continue
		}
		if best == "" || pi.SmoothRTT < bestRTT || pi.SmoothRTT == bestRTT && pi.Addr < best {
			best, bestRTT = pi.Addr, pi.SmoothRTT
		}
	}
	return best
}

// peerGlyph is a peer's mark on the radar and in the legend.
func peerGlyph(pi node.PeerInfo, nearest string) string {
	switch {
	case pi.Status == node.PeerPenalizedStatus:
		return glyphPenalized
	case pi.Status == node.PeerOfflineStatus:
		return glyphOffline
	case pi.Status == node.PeerOnlineStatus && pi.Addr == nearest:
		return glyphNearest
	case pi.Status == node.PeerOnlineStatus:
		return glyphOnline
	}
	return glyphConnecting
}

// peerLabels numbers the peers by address, 1–9 then a–z, so a peer keeps
// its label while round trips change; "+" past that.
func peerLabels(peers []node.PeerInfo) map[string]string {
	addrs := make([]string, 0, len(peers))
	for _, pi := range peers {
		addrs = append(addrs, pi.Addr)
	}
	sort.Strings(addrs)
	out := make(map[string]string, len(addrs))
	for i, a := range addrs {
		out[a] = "+"
		if i < len(labelKeys) {
			out[a] = labelKeys[i : i+1]
		}
	}
	return out
}

// labelKeys are the one-cell labels the radar gives peers, in order.
const labelKeys = "123456789abcdefghijklmnopqrstuvwxyz"

// labels are the peers' labels: in a devnet each node's own number (node
// 3 is 3; node 10 is a, as in peerLabels), so the radar, its table and
// the spread name a node as the devnet graph and its controls do; a peer
// outside the devnet is "+". Elsewhere peerLabels.
func (p *netPane) labels() map[string]string {
	if !p.devnet || len(p.graph.nodes) == 0 {
		return peerLabels(p.peers)
	}
	out := make(map[string]string, len(p.peers))
	for _, pi := range p.peers {
		out[pi.Addr] = "+"
	}
	for i, nd := range p.graph.nodes {
		if _, ok := out[nd.Addr]; ok && i < len(labelKeys) {
			out[nd.Addr] = labelKeys[i : i+1]
		}
	}
	return out
}

// placePeers puts every peer on a w×h canvas. Peers are placed in address
// order; one whose cell (or its label's) is taken moves to the nearest free
// one, so two peers at the same place stay apart.
func placePeers(peers []node.PeerInfo, labels map[string]string, w, h int) (netGeometry, []netSpot) {
	g := radarGeometry(w, h)
	nearest := nearestOnline(peers)
	ordered := append([]node.PeerInfo(nil), peers...)
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Addr < ordered[j].Addr })
	taken := map[[2]int]bool{{g.cx, g.cy}: true, {g.cx + 1, g.cy}: true}
	// The scale's figures are kept clear: peers move off them.
	for _, ring := range netRings {
		x, y := g.ringLabel(ring.rtt)
		for i := range len(ring.label) {
			taken[[2]int{x + i, y}] = true
		}
	}
	free := func(x, y int) bool {
		return x >= 0 && x+1 < w && y >= 0 && y < h && !taken[[2]int{x, y}] && !taken[[2]int{x + 1, y}]
	}
	nudges := [][2]int{{0, 0}, {0, -1}, {0, 1}, {2, 0}, {-2, 0}, {2, -1}, {-2, 1}, {2, 1}, {-2, -1}, {0, -2}, {0, 2}, {4, 0}, {-4, 0}}
	var spots []netSpot
	for _, pi := range ordered {
		x0, y0 := g.at(g.distance(pi.SmoothRTT), peerAngle(pi.Addr))
		x, y := x0, y0
		for _, d := range nudges {
			if free(x0+d[0], y0+d[1]) {
				x, y = x0+d[0], y0+d[1]
				break
			}
		}
		taken[[2]int{x, y}], taken[[2]int{x + 1, y}] = true, true
		spots = append(spots, netSpot{X: x, Y: y, Glyph: peerGlyph(pi, nearest), Label: labels[pi.Addr], Peer: pi})
	}
	return g, spots
}

// canvas is a grid of cells, each one rendered glyph, that the network
// view's drawings (the radar, the devnet graph) are put on.
type canvas [][]string

func newCanvas(w, h int) canvas {
	c := make(canvas, h)
	for y := range c {
		c[y] = make([]string, w)
		for x := range c[y] {
			c[y][x] = " "
		}
	}
	return c
}

// put sets one cell; a cell outside the canvas is left out.
func (c canvas) put(x, y int, s string) {
	if y >= 0 && y < len(c) && x >= 0 && x < len(c[y]) {
		c[y][x] = s
	}
}

// inkOf renders text in st, each text once: drawing cell by cell, the
// same few glyphs are asked for thousands of times a frame.
func inkOf(st lipgloss.Style) func(string) string {
	done := map[string]string{}
	return func(s string) string {
		r, ok := done[s]
		if !ok {
			r = st.Render(s)
			done[s] = r
		}
		return r
	}
}

func (c canvas) lines() []string {
	out := make([]string, len(c))
	for y := range c {
		out[y] = strings.Join(c[y], "")
	}
	return out
}

// radar draws the canvas: rings with their scale, this node, the peers.
func (p *netPane) radar(w, h int) []string {
	if w < 8 || h < 3 {
		return nil
	}
	grid := newCanvas(w, h)
	put := grid.put
	g, spots := placePeers(p.peers, p.labels(), w, h)
	dim := inkOf(p.st.Dim)
	for _, ring := range netRings {
		r := g.distance(ring.rtt)
		steps := int(16*r) + 8
		for i := 0; i < steps; i++ {
			x, y := g.at(r, 2*math.Pi*float64(i)/float64(steps))
			put(x, y, dim(glyphRing))
		}
	}
	// Each ring's figure sits on it, right of the top; peers are placed
	// off it when they can be.
	for _, ring := range netRings {
		x, y := g.ringLabel(ring.rtt)
		for i, c := range ring.label {
			put(x+i, y, dim(string(c)))
		}
	}
	put(g.cx, g.cy, p.st.Title.Render(glyphSelf))
	for _, s := range spots {
		style := p.glyphStyle(s.Peer.Status)
		put(s.X, s.Y, style.Render(s.Glyph))
		put(s.X+1, s.Y, style.Render(s.Label))
	}
	return grid.lines()
}

func (p *netPane) glyphStyle(s node.PeerStatus) lipgloss.Style {
	switch s {
	case node.PeerOnlineStatus:
		return p.st.OK.Bold(true)
	case node.PeerConnectingStatus:
		return p.st.Warn
	case node.PeerPenalizedStatus:
		return p.st.Bad
	}
	return p.st.Dim
}

// glyphKey explains the glyphs, as long as fits in w.
func glyphKey(w int) string {
	return firstFit(w,
		glyphSelf+" this node "+glyphNearest+" nearest (sync asks it first) "+glyphOnline+" online "+glyphConnecting+" dialing "+glyphOffline+" offline "+glyphPenalized+" penalised",
		glyphSelf+" us "+glyphNearest+" nearest "+glyphOnline+" online "+glyphConnecting+" dialing "+glyphOffline+" off "+glyphPenalized+" penalised",
		glyphNearest+" nearest "+glyphOnline+" on "+glyphOffline+" off "+glyphPenalized+" penalised",
		glyphNearest+" near "+glyphOffline+" off "+glyphPenalized+" pen")
}

// View lays the radar on the left, the legend and the spread on the right.
func (p *netPane) View() string {
	w, h := p.w, p.h
	radarW := clamp(4*((h-3)/2)+1+2+4, w*2/5, w*3/5)
	rightW := w - radarW
	online := 0
	for _, pi := range p.peers {
		if pi.Status == node.PeerOnlineStatus {
			online++
		}
	}
	if p.devnet && !p.graph.radar {
		gw := clamp(w*3/5, min(w, 40), w-24)
		return p.graphView(gw, w-gw)
	}
	title := fmt.Sprintf("Network %d/%d online", online, len(p.peers))
	var lines []string
	if len(p.peers) == 0 {
		lines = []string{p.st.Dim.Render("no peers yet: alone"), p.st.Dim.Render("press a to add one")}
	} else {
		lines = p.radar(radarW-4, h-2)
	}
	left := p.st.box(title, "log scale", p.st.Dim.Render(glyphKey(radarW-6)), lines, radarW, h, true)

	legendH := clamp(len(p.peers)+3, 4, h/2)
	spreadH := h - legendH
	legend := p.st.box("Peers by latency", "", "", p.legend(rightW-4, legendH-2), rightW, legendH, false)
	spreadTitle := "Block spread"
	if p.picked {
		spreadTitle = fmt.Sprintf("Spread of #%s %s", commas(p.block.Height), shortHash(p.block.Hash))
	}
	sp := p.st.box(spreadTitle, "", p.st.Dim.Render("↑↓ block"), p.spreadLines(rightW-4, spreadH-2), rightW, spreadH, false)
	return lipgloss.JoinHorizontal(lipgloss.Top, left, lipgloss.JoinVertical(lipgloss.Left, legend, sp))
}

// legend lists the peers nearest first (online first), with their label,
// round trip, and the share of relayed blocks each delivered first and its
// median lag behind the first copy, as the width allows.
func (p *netPane) legend(w, rows int) []string {
	if len(p.peers) == 0 {
		return []string{p.st.Dim.Render("none")}
	}
	peers := append([]node.PeerInfo(nil), p.peers...)
	sort.SliceStable(peers, func(i, j int) bool { return sortLatency.less(peers[i], peers[j]) })
	nearest := nearestOnline(peers)
	labels := p.labels()
	addrW := len("address")
	for _, pi := range peers {
		addrW = max(addrW, lipgloss.Width(Sanitize(pi.Addr)))
	}
	// Columns after the address: avg, first, lag, status; the address
	// gives up to 13 cells before a column is dropped.
	cols := []struct {
		title string
		width int
		cell  func(node.PeerInfo, peerDelivery) string
	}{
		{"avg", rttWidth, func(pi node.PeerInfo, _ peerDelivery) string { return rtt(pi.SmoothRTT) }},
		{"first", 5, func(_ node.PeerInfo, d peerDelivery) string {
			if d.Delivered == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f%%", 100*d.Share())
		}},
		{"lag", 6, func(_ node.PeerInfo, d peerDelivery) string {
			if d.Delivered == 0 {
				return "-"
			}
			return lagText(d.MedianLag)
		}},
		{"status", statusWidth, func(pi node.PeerInfo, _ peerDelivery) string { return string(pi.Status) }},
	}
	used := 5 + addrW // "◆ 2  " leads each row
	keep := 0
	for _, c := range cols {
		need := used + 1 + c.width
		if need > w && need-w <= addrW-minAddrWidth {
			addrW -= need - w
			used -= need - w
		}
		if used+1+c.width > w {
			break
		}
		used += 1 + c.width
		keep++
	}
	head := "     " + fit("address", addrW)
	for _, c := range cols[:keep] {
		head += " " + fitRight(c.title, c.width)
	}
	out := []string{p.st.ColHeader.Render(fit(head, w))}
	for i, pi := range peers {
		if len(out) == rows-1 && len(peers)-i > 1 {
			out = append(out, p.st.Dim.Render(fmt.Sprintf("%d more", len(peers)-i)))
			break
		}
		d := p.spread.delivery(pi.Addr)
		row := peerGlyph(pi, nearest) + " " + labels[pi.Addr] + "  " + fit(Sanitize(pi.Addr), addrW)
		for _, c := range cols[:keep] {
			row += " " + fitRight(c.cell(pi, d), c.width)
		}
		row = fit(row, w)
		if pi.Status == node.PeerOfflineStatus {
			row = p.st.Offline.Render(row)
		}
		out = append(out, row)
	}
	return out
}

// spreadLines is the level-order picture: for the selected block, the peer
// that delivered it first, then every later copy with its lag and a bar;
// below, the newest blocks one line each.
func (p *netPane) spreadLines(w, rows int) []string {
	labels := p.labels()
	who := func(addr string) string {
		if l, ok := labels[addr]; ok {
			return l + " " + Sanitize(addr)
		}
		return Sanitize(addr)
	}
	if p.devnet && !p.graph.radar {
		// Beside the devnet's graph, peers go by their node numbers.
		names := map[string]string{}
		for i, nd := range p.graph.nodes {
			labels[nd.Addr], names[nd.Addr] = fmt.Sprint(i+1), Sanitize(nd.Name)
		}
		who = func(addr string) string {
			if n, ok := names[addr]; ok {
				return n
			}
			return Sanitize(addr)
		}
	}
	var out []string
	var bs *blockSpread
	if p.picked {
		bs = p.spread.block(p.block.Hash)
	}
	switch {
	case !p.picked:
		out = append(out, p.st.Dim.Render("no block selected"))
	case bs == nil:
		out = append(out, p.st.Dim.Render("no arrivals seen for this block"),
			p.st.Dim.Render("(synced, or before the dashboard)"))
	default:
		first := "mined here"
		if !bs.Mined {
			first = who(bs.First)
			if bs.First == "" {
				first = "before the dashboard looked"
			}
		}
		out = append(out, fit(fitRight("first", 7)+" "+first, w))
		var longest time.Duration
		for _, c := range bs.Copies {
			longest = max(longest, c.Lag)
		}
		for _, c := range bs.Copies {
			line := fitRight("+"+lagText(c.Lag), 7) + " " + who(c.Peer)
			if !c.Timed {
				line += " ~"
			}
			if room := w - lipgloss.Width(line) - 1; room >= 4 && longest > 0 {
				line += " " + strings.Repeat("▇", max(1, int(float64(room)*float64(c.Lag)/float64(longest))))
			}
			out = append(out, fit(line, w))
		}
		if len(bs.Copies) == 0 {
			out = append(out, p.st.Dim.Render(fit("no other copy came", w)))
		}
	}
	// The newest blocks, one line each: who was first, then the others'
	// labels and lags in arrival order.
	if rows-len(out) >= 3 {
		out = append(out, "", p.st.ColHeader.Render(fit("newest blocks: first, then later copies", w)))
		for _, b := range p.recent {
			if len(out) >= rows {
				break
			}
			bs := p.spread.block(b.Hash)
			if bs == nil {
				continue
			}
			line := "#" + commas(b.Height) + " "
			switch {
			case bs.Mined:
				line += "mined here"
			case bs.First == "":
				line += "?"
			default:
				line += labels[bs.First] + " first"
			}
			for _, c := range bs.Copies {
				l := labels[c.Peer]
				if l == "" {
					l = "?"
				}
				line += " · " + l + " +" + lagText(c.Lag)
			}
			if b.Hash == p.block.Hash && p.picked {
				line = p.st.SelectedDim.Render(ansi.Strip(fit(line, w)))
			}
			out = append(out, fit(line, w))
		}
	}
	return out
}
