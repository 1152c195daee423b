package ui

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// devGraph is the devnet drawn as the graph it is, in the network view
// (issue 12 §1): every node on a ring, every link with the latency
// injected on it (dotted while it is down, as across a split), and the
// spread of the block selected in the Chain pane replayed across it: the
// node that mined it, then each link the block took, drawn as it travels,
// each node lit as the block reaches it, in slow motion, again and again.
//
// Its data comes from the devnet (DevnetControl.Links and Spread), read in
// Update: the links with each second's tick, the spread with each frame of
// the replay.
type devGraph struct {
	nodes  []DevnetNode
	links  []DevnetLink
	spread DevnetSpread
	has    bool // spread is set

	// The replay: start is when it began (zero: drawn complete, as in a
	// still), now the latest frame's time.
	start, now time.Time
	ticking    bool // a graphTickMsg is on its way
	radar      bool // v: this node's radar instead of the devnet graph
}

// The replay shows a spread of any length in replayPlay, then holds the
// complete picture for replayHold before it starts again.
const (
	replayPlay  = 2500 * time.Millisecond
	replayHold  = 1500 * time.Millisecond
	replayFrame = 50 * time.Millisecond
)

// graphTickMsg is a frame of the replay.
type graphTickMsg struct{}

func graphTick() tea.Cmd {
	return tea.Tick(replayFrame, func(time.Time) tea.Msg { return graphTickMsg{} })
}

// total is how long the block took to reach the last node it reached by
// relay. A node that fetched it (by sync, after a restart or a heal) may
// have it minutes later: that is not part of the spread, and is shown only
// in the complete picture.
func (g *devGraph) total() time.Duration {
	var t time.Duration
	for _, a := range g.spread.Reached {
		if a.Reached && !a.Fetched {
			t = max(t, a.At)
		}
	}
	return t
}

// replayAt is the moment of the spread the frame shows, and whether the
// spread is shown complete.
func (g *devGraph) replayAt() (time.Duration, bool) {
	total := g.total()
	if g.start.IsZero() || total <= 0 {
		return total, true
	}
	// A block just picked is drawn from its beginning, not complete for a
	// frame before its replay starts.
	e := max(0, g.now.Sub(g.start)) % (replayPlay + replayHold)
	if e >= replayPlay {
		return total, true
	}
	return time.Duration(float64(total) * float64(e) / float64(replayPlay)), false
}

// denseLinks is the most links the graph draws all of (a full mesh of 8).
const denseLinks = 28

// dense reports whether the devnet has too many links to draw them all:
// then only the ones the block took are drawn, or the picture is a ball
// of string (12 nodes have 66 links, 64 nodes 2,016 to trace each frame).
// The title counts the links up either way.
func (g *devGraph) dense() bool { return len(g.drawable()) > denseLinks }

// drawable is the links between two known nodes.
func (g *devGraph) drawable() []DevnetLink {
	var out []DevnetLink
	for _, l := range g.links {
		if l.A < len(g.nodes) && l.B < len(g.nodes) && l.A != l.B {
			out = append(out, l)
		}
	}
	return out
}

// Glyphs of the graph, readable without colour.
const (
	glyphOrigin  = "★" // mined the block
	glyphReached = "●"
	glyphWaiting = "○"
	glyphStopped = "✕"
	glyphLinkOff = "·"
	glyphTravel  = "•"
)

// graphCell is a position on the canvas.
type graphCell struct{ X, Y int }

// placeNodes puts n nodes on an ellipse that fills a w×h canvas, node 1 at
// the left and the rest clockwise, each at the same place in every frame.
// The ellipse leaves room for a label of labelW cells on either side.
func placeNodes(n, w, h, labelW int) []graphCell {
	if n == 1 {
		return []graphCell{{w / 2, h / 2}}
	}
	// A whole-cell centre: nodes opposite each other stay on one row.
	cx, cy := float64((w-1)/2), float64((h-1)/2)
	angle := func(i int) float64 { return math.Pi + 2*math.Pi*float64(i)/float64(n) }
	// The ellipse is stretched so that its top and bottom nodes reach the
	// canvas's edges (with 6 nodes none sits straight above the centre).
	top := 0.0
	for i := range n {
		top = max(top, math.Abs(math.Sin(angle(i))))
	}
	rx := max(1, cx-float64(labelW))
	ry := max(1, cy)
	if top > 0.1 {
		ry /= top
	}
	out := make([]graphCell, n)
	for i := range n {
		a := angle(i)
		out[i] = graphCell{int(math.Round(cx + rx*math.Cos(a))), int(math.Round(cy + ry*math.Sin(a)))}
	}
	return out
}

// linePath is the cells from a to b, both ends left out.
func linePath(a, b graphCell) []graphCell {
	dx, dy := b.X-a.X, b.Y-a.Y
	steps := max(abs(dx), abs(dy))
	var out []graphCell
	seen := map[graphCell]bool{a: true, b: true}
	for s := 1; s < steps; s++ {
		c := graphCell{a.X + int(math.Round(float64(dx*s)/float64(steps))), a.Y + int(math.Round(float64(dy*s)/float64(steps)))}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// lineGlyph is the stroke of a line from a to b (a cell is about twice as
// tall as wide).
func lineGlyph(a, b graphCell) string {
	dx, dy := float64(b.X-a.X)/2, float64(b.Y-a.Y)
	ang := math.Atan2(dy, dx) * 180 / math.Pi
	if ang < 0 {
		ang += 180
	}
	switch {
	case ang < 22.5 || ang >= 157.5:
		return "─"
	case ang < 67.5:
		return "╲"
	case ang < 112.5:
		return "│"
	}
	return "╱"
}

// graphLines is the canvas, w×h.
func (p *netPane) graphLines(w, h int) []string {
	g := p.graph
	n := len(g.nodes)
	if n == 0 || w < 12 || h < 5 {
		return []string{p.st.Dim.Render("no devnet nodes")}
	}
	grid := newCanvas(w, h)
	put := grid.put
	// Each glyph is styled once a frame, not once a cell.
	dim, trail := inkOf(p.st.Dim), p.st.OK.Bold(true).Render(glyphTravel)
	now, complete := g.replayAt()
	reached := func(i int) (DevnetArrival, bool) {
		if !g.has || i >= len(g.spread.Reached) {
			return DevnetArrival{}, false
		}
		a := g.spread.Reached[i]
		return a, a.Reached && (complete || !a.Fetched && a.At <= now)
	}
	labelW := len(fmt.Sprint(n)) + 1 + len("+000ms")
	pos := placeNodes(n, w, h, labelW)
	// Cells a label may not take: the nodes and their own labels.
	taken := map[graphCell]bool{}
	for _, c := range pos {
		from := -1
		if c.X+1+labelW > w { // no room on the right: its label goes left
			from = -labelW - 1
		}
		for dx := from; dx <= labelW+1; dx++ {
			taken[graphCell{c.X + dx, c.Y}] = true
		}
	}
	// A link's cells, from its lower node, made when first needed.
	paths := map[[2]int][]graphCell{}
	path := func(a, b int) []graphCell {
		k := [2]int{min(a, b), max(a, b)}
		p, ok := paths[k]
		if !ok {
			p = linePath(pos[k[0]], pos[k[1]])
			paths[k] = p
		}
		return p
	}
	type edge struct {
		l    DevnetLink
		path []graphCell
	}
	links := g.drawable()
	edges := make([]edge, len(links))
	for i, l := range links {
		edges[i].l = l
	}
	drawAll := len(links) <= denseLinks
	if drawAll {
		for i := range edges {
			edges[i].path = path(edges[i].l.A, edges[i].l.B)
		}
		for _, e := range edges {
			if e.l.Up {
				continue
			}
			for _, c := range e.path {
				put(c.X, c.Y, dim(glyphLinkOff))
			}
		}
		for _, e := range edges {
			if !e.l.Up {
				continue
			}
			s := p.st.Dim.Render(lineGlyph(pos[e.l.A], pos[e.l.B]))
			for _, c := range e.path {
				put(c.X, c.Y, s)
			}
		}
	}
	// The block on its way: along each link it took, as far as it got.
	travelled := map[[2]int]bool{}
	if g.has {
		for j, a := range g.spread.Reached {
			if j >= n || !a.Reached || a.From < 0 || a.From >= n {
				continue
			}
			from, ok := reached(a.From)
			if !ok {
				continue
			}
			// The link's own cells (drawn from its lower node), walked
			// from the sender.
			way := slices.Clone(path(a.From, j))
			if a.From > j {
				slices.Reverse(way)
			}
			f := 1.0
			if !complete && a.At > from.At {
				f = min(1, max(0, float64(now-from.At)/float64(a.At-from.At)))
			}
			k := int(math.Round(f * float64(len(way))))
			for _, c := range way[:k] {
				put(c.X, c.Y, trail)
			}
			travelled[[2]int{min(a.From, j), max(a.From, j)}] = true
		}
	}
	// Latencies, one way: the links the block took first, then the rest,
	// each where it fits along its line.
	sort.SliceStable(edges, func(i, j int) bool {
		ki := [2]int{edges[i].l.A, edges[i].l.B}
		kj := [2]int{edges[j].l.A, edges[j].l.B}
		return travelled[ki] && !travelled[kj]
	})
	// Every link's latency while they are few for the canvas (a label
	// and its margins take about 7 cells); beyond that only the block's
	// way is labelled, or the labels bury the lines (12 nodes: 66 links).
	labelAll := drawAll && len(edges)*7 <= w*h/12
	for _, e := range edges {
		if !labelAll && !travelled[[2]int{e.l.A, e.l.B}] {
			continue
		}
		e.path = path(e.l.A, e.l.B)
		text := lagText(e.l.Delay)
		// Off the middle first: on a ring, lines cross there.
		for _, f := range []float64{0.3, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6} {
			if len(e.path) == 0 {
				break
			}
			c := e.path[int(f*float64(len(e.path)-1))]
			x0 := c.X - len(text)/2
			fits := x0 >= 0 && x0+len(text) <= w
			for dx := -1; fits && dx <= len(text); dx++ {
				fits = !taken[graphCell{x0 + dx, c.Y}]
			}
			if !fits {
				continue
			}
			for dx, r := range text {
				put(x0+dx, c.Y, dim(string(r)))
				taken[graphCell{x0 + dx, c.Y}] = true
			}
			break
		}
	}
	// The nodes, their numbers and when the block reached them. Every
	// glyph first, then the labels where they do not cover another node
	// or label: right of the node, else left, else the number alone.
	glyphAt := map[graphCell]bool{}
	for _, c := range pos {
		glyphAt[c] = true
	}
	labelled := map[graphCell]bool{}
	free := func(x, y, n int) bool {
		if x < 0 || x+n > w {
			return false
		}
		for dx := range n {
			if c := (graphCell{x + dx, y}); glyphAt[c] || labelled[c] {
				return false
			}
		}
		return true
	}
	type nodeLabel struct {
		c     graphCell
		texts []string
		ink   func(string) string
	}
	inks := map[string]func(string) string{}
	var labels []nodeLabel
	for i, c := range pos {
		nd := g.nodes[i]
		glyph, style := glyphWaiting, p.st.Warn
		a, ok := reached(i)
		switch {
		case !nd.Running:
			glyph, style = glyphStopped, p.st.Dim
		case ok && g.has && g.spread.Origin == i:
			glyph, style = glyphOrigin, p.st.Title
		case ok:
			glyph, style = glyphReached, p.st.OK.Bold(true)
		case !g.has:
			glyph, style = glyphReached, p.st.OK
		}
		num := fmt.Sprint(i + 1)
		texts := []string{num}
		switch {
		case ok && a.Fetched:
			texts = []string{num + " sync", num}
		case ok && g.spread.Origin != i:
			texts = []string{num + " +" + lagText(a.At), num}
		}
		ink := inks[glyph]
		if ink == nil {
			ink = inkOf(style)
			inks[glyph] = ink
		}
		put(c.X, c.Y, ink(glyph))
		labels = append(labels, nodeLabel{c, texts, ink})
	}
	for _, l := range labels {
	place:
		for _, text := range l.texts {
			n := len([]rune(text))
			for _, x := range []int{l.c.X + 1, l.c.X - n} {
				if !free(x, l.c.Y, n) {
					continue
				}
				for dx, r := range []rune(text) {
					put(x+dx, l.c.Y, l.ink(string(r)))
					labelled[graphCell{x + dx, l.c.Y}] = true
				}
				break place
			}
		}
	}
	return grid.lines()
}

// graphKey explains the graph's glyphs, as long as fits in w.
func graphKey(w int, dense bool) string {
	if dense { // no link is drawn but the block's way
		return firstFit(w,
			glyphOrigin+" mined it "+glyphReached+" reached "+glyphWaiting+" not yet "+glyphStopped+" stopped "+glyphTravel+" the block's way (other links not drawn)",
			glyphOrigin+" mined "+glyphReached+" reached "+glyphWaiting+" not yet "+glyphStopped+" stopped "+glyphTravel+" its way",
			glyphOrigin+" mined "+glyphReached+" has it "+glyphWaiting+" not yet "+glyphStopped+" off",
			glyphOrigin+" mined "+glyphReached+" has "+glyphWaiting+" not yet")
	}
	return firstFit(w,
		glyphOrigin+" mined it "+glyphReached+" reached "+glyphWaiting+" not yet "+glyphStopped+" stopped "+glyphTravel+" the block's way "+glyphLinkOff+" link down · latency one way",
		glyphOrigin+" mined "+glyphReached+" reached "+glyphWaiting+" not yet "+glyphStopped+" stopped "+glyphLinkOff+" link down",
		glyphOrigin+" mined "+glyphReached+" has it "+glyphWaiting+" not yet "+glyphStopped+" off",
		glyphOrigin+" mined "+glyphReached+" has "+glyphWaiting+" not yet")
}

// graphTitle is the graph box's title and note.
func (p *netPane) graphTitle() (string, string) {
	g := p.graph
	running, up := 0, 0
	for _, nd := range g.nodes {
		if nd.Running {
			running++
		}
	}
	for _, l := range g.links {
		if l.Up {
			up++
		}
	}
	title := fmt.Sprintf("Devnet %d/%d nodes, %d links up", running, len(g.nodes), up)
	if !g.has {
		if p.picked {
			// Genesis, or a block from before the devnet's nodes were watched.
			return title, fmt.Sprintf("#%s: its way was not seen", commas(p.block.Height))
		}
		return title, "no block selected"
	}
	now, complete := g.replayAt()
	if complete {
		reached, fetched := 0, 0
		for _, a := range g.spread.Reached {
			if a.Reached {
				reached++
				if a.Fetched {
					fetched++
				}
			}
		}
		// The time is the relayed way's; nodes that fetched it later
		// are counted apart.
		bySync := ""
		if fetched > 0 {
			bySync = fmt.Sprintf(", %d by sync", fetched)
		}
		if reached < len(g.nodes) {
			// Still on its way, or cut off: not "all".
			return title, fmt.Sprintf("#%s reached %d of %d in %s%s", commas(g.spread.Height), reached, len(g.nodes), lagText(g.total()), bySync)
		}
		return title, fmt.Sprintf("#%s reached all in %s%s", commas(g.spread.Height), lagText(g.total()), bySync)
	}
	return title, fmt.Sprintf("#%s replay +%s of %s", commas(g.spread.Height), lagText(now), lagText(g.total()))
}

// arrivalLines is the level-order picture across the devnet: the node
// that mined the block, then every node in the order the block reached
// it, with the node it came from and the link's latency.
func (p *netPane) arrivalLines(w, rows int) []string {
	g := p.graph
	if !g.has {
		if p.picked {
			return []string{p.st.Dim.Render(fit("its way across the devnet was not seen (genesis, or before it was watched): ↑↓ choose another", w))}
		}
		return []string{p.st.Dim.Render(fit("select a block in Chain (↑↓) to see its way", w))}
	}
	delay := map[[2]int]time.Duration{}
	for _, l := range g.links {
		delay[[2]int{l.A, l.B}] = l.Delay
	}
	type row struct {
		i int
		a DevnetArrival
	}
	var rs []row
	missing := 0
	for i, a := range g.spread.Reached {
		if a.Reached {
			rs = append(rs, row{i, a})
		} else {
			missing++
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].a.At < rs[j].a.At })
	name := func(i int) string {
		if i >= 0 && i < len(g.nodes) {
			return Sanitize(g.nodes[i].Name)
		}
		return fmt.Sprintf("node%d", i+1)
	}
	out := []string{p.st.ColHeader.Render(fit(fmt.Sprintf("%-8s %7s  %s", "node", "after", "came from"), w))}
	for k, r := range rs {
		if len(out) == rows-1 && len(rs)-k > 1 {
			out = append(out, p.st.Dim.Render(fmt.Sprintf("%d more", len(rs)-k)))
			break
		}
		how := ""
		switch {
		case r.i == g.spread.Origin:
			how = "mined it"
		case r.a.Fetched:
			how = "fetched (sync)"
		case r.a.From >= 0:
			how = "← " + name(r.a.From)
			if d, ok := delay[[2]int{min(r.i, r.a.From), max(r.i, r.a.From)}]; ok {
				how = firstFit(w-18, how+fmt.Sprintf(" (%s link)", lagText(d)), how+" "+lagText(d), how)
			}
		default:
			how = "?"
		}
		out = append(out, fit(fmt.Sprintf("%-8s %7s  %s", name(r.i), "+"+lagText(r.a.At), how), w))
	}
	if missing > 0 && len(out) < rows {
		out = append(out, p.st.Dim.Render(fit(fmt.Sprintf("%d not reached yet (or stopped, or across a split)", missing), w)))
	}
	return out
}

// graphView is the network view in a devnet: the graph on the left, the
// block's way across it and its spread at this node on the right.
func (p *netPane) graphView(radarW, rightW int) string {
	h := p.h
	title, note := p.graphTitle()
	left := p.st.box(title, note, p.st.Dim.Render(graphKey(radarW-6, p.graph.dense())), p.graphLines(radarW-4, h-2), radarW, h, true)
	wayH := clamp(len(p.graph.nodes)+4, 5, h/2)
	spreadH := h - wayH
	way := p.st.box("Its way across the devnet", "", p.st.Dim.Render("v radar"), p.arrivalLines(rightW-4, wayH-2), rightW, wayH, false)
	spreadTitle := "At this node"
	if p.picked {
		spreadTitle = fmt.Sprintf("At this node: #%s %s", commas(p.block.Height), shortHash(p.block.Hash))
	}
	sp := p.st.box(spreadTitle, "", p.st.Dim.Render("↑↓ block"), p.spreadLines(rightW-4, spreadH-2), rightW, spreadH, false)
	return lipgloss.JoinHorizontal(lipgloss.Top, left, lipgloss.JoinVertical(lipgloss.Left, way, sp))
}
