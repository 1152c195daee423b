package ui

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/meshchain/meshchain/node"
)

// DevnetControl is what `meshchain devnet` lets the dashboard do to its
// nodes (issue 12 §5). Indexes are 0-based; node 0 is the dashboard's own.
type DevnetControl interface {
	Nodes() []DevnetNode
	Stop(ctx context.Context, i int) error
	Start(ctx context.Context, i int) error
	Split(ctx context.Context) error
	Heal(ctx context.Context) error
	// SetDelay sets the one-way latency of the link between nodes i and j.
	SetDelay(ctx context.Context, i, j int, d time.Duration) error
	// Links is every pair of nodes that may connect, with the latency
	// injected on it and whether a session is up now (issue 12 §1).
	Links() []DevnetLink
	// Spread is how the block hash reached every node: false when no node
	// reported it.
	Spread(hash string) (DevnetSpread, bool)
}

// DevnetLink is a link between nodes A and B (0-based, A < B).
type DevnetLink struct {
	A, B  int
	Delay time.Duration // one way, the same both ways
	Up    bool          // a session between them is online
}

// DevnetSpread is a block's way across the devnet: the node that mined it
// and, for each node, when the block reached it after that and from which
// node. Times are the nodes' block_mined and block_accepted events, all on
// one clock (the devnet is one process).
type DevnetSpread struct {
	Hash    string
	Height  uint64
	Origin  int // the node that mined it; -1 when not seen
	Reached []DevnetArrival
}

// DevnetArrival is the block at one node.
type DevnetArrival struct {
	Reached bool
	At      time.Duration // after the origin found it (or the first node had it)
	From    int           // the node it came from; -1 when mined there, fetched or unknown
	Fetched bool          // asked for (sync, a missing parent), not relayed
}

// DevnetNode is one devnet node as the devnet view shows it.
type DevnetNode struct {
	Name, Addr string
	Running    bool
	Height     uint64
	Tip        string
	Online     int           // peers online
	Half       int           // 0 or 1 while the network is split, else -1
	Delay      time.Duration // of its link with node 1 (0 for node 1)
}

// DevnetAction is a devnet control the user took, shown among the events.
type DevnetAction struct {
	Action string `json:"action"` // stop, start, split, heal, latency
	Detail string `json:"detail"`
}

func (DevnetAction) Kind() string { return "devnet" }

// devnetKeys are the devnet view's own keys.
var devnetKeys = struct {
	StopStart, Split, Slower, Faster key.Binding
}{
	StopStart: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "stop/restart node")),
	Split:     key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "split/heal")),
	Slower:    key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "link to node 1 slower")),
	Faster:    key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "link faster")),
}

// devnetPane lists the devnet's nodes: running or stopped, their half while
// split, height and tip, peers online, latency to node 1.
type devnetPane struct {
	st     *Styles
	w, h   int
	nodes  []DevnetNode
	cursor int
	offset int
	busy   string // the action under way
	// heights is each node's height, sampled every second, oldest first:
	// the network's tip height over time (issue 12 §4).
	heights map[string][]float64
}

const keepHeights = 120

// sample notes each node's height now.
func (p *devnetPane) sample() {
	if p.heights == nil {
		p.heights = map[string][]float64{}
	}
	for _, n := range p.nodes {
		h := p.heights[n.Name]
		v := 0.0
		if n.Running {
			v = float64(n.Height)
		} else if len(h) > 0 {
			v = h[len(h)-1] // a stopped node keeps the height it had
		}
		h = append(h, v)
		if len(h) > keepHeights {
			h = h[len(h)-keepHeights:]
		}
		p.heights[n.Name] = h
	}
}

func (p *devnetPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.Scroll(0)
}

func (p *devnetPane) visible() int { return max(1, p.h-4) }

func (p *devnetPane) Scroll(delta int) {
	p.cursor = clamp(p.cursor+delta, 0, max(0, len(p.nodes)-1))
	p.offset = scrollTo(p.offset, p.cursor, p.visible(), len(p.nodes))
}

func (p *devnetPane) help(k keyMap) []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "select"))
	return []key.Binding{move, devnetKeys.StopStart, devnetKeys.Split, devnetKeys.Slower, devnetKeys.Faster, k.Close}
}

// tips counts the distinct tips of the running nodes.
func (p *devnetPane) tips() int {
	seen := map[string]bool{}
	for _, n := range p.nodes {
		if n.Running {
			seen[n.Tip] = true
		}
	}
	return len(seen)
}

func (p *devnetPane) View() string {
	split := false
	for _, n := range p.nodes {
		split = split || n.Half >= 0
	}
	note := "one network"
	if split {
		note = "split in two halves"
	}
	if t := p.tips(); t > 1 {
		note += fmt.Sprintf(" · %d tips", t)
	} else {
		note += " · one tip"
	}
	w := p.w - 4
	head := fmt.Sprintf("  %-7s %-15s %-8s %-4s %7s %-9s %5s %8s", "node", "address", "state", "half", "height", "tip", "peers", "latency")
	if w-lipgloss.Width(head)-2 >= 12 {
		head += "  height over the last minutes (one column a second, all nodes on one scale)"
	}
	lines := []string{p.st.ColHeader.Render(fit(head, w))}
	for i := p.offset; i < len(p.nodes) && i < p.offset+p.visible(); i++ {
		n := p.nodes[i]
		mark := "  "
		if i == p.cursor {
			mark = "▸ "
		}
		state, half, height, tip, peers, lat := "stopped", "", "", "", "", ""
		if n.Running {
			state, height, tip, peers = "running", commas(n.Height), shortHash(n.Tip), fmt.Sprint(n.Online)
		}
		if n.Half >= 0 {
			half = string(rune('A' + n.Half))
		}
		if i > 0 {
			lat = fmt.Sprintf("%dms", n.Delay.Milliseconds())
		} else {
			lat = "(self)"
		}
		row := fmt.Sprintf("%s%-7s %-15s %-8s %-4s %7s %-9s %5s %8s", mark, Sanitize(n.Name), Sanitize(n.Addr), state, half, height, tip, peers, lat)
		if sw := w - lipgloss.Width(row) - 2; sw >= 12 {
			row += "  " + p.heightLine(n.Name, sw)
		}
		row = fit(row, w)
		switch {
		case i == p.cursor:
			row = p.st.Selected.Render(row)
		case !n.Running:
			row = p.st.Offline.Render(row)
		}
		lines = append(lines, row)
	}
	lines = append(lines, "", p.st.Dim.Render(fit("r stop/restart · p split/heal · +/- latency to node 1 · esc close", w)))
	status := "esc close"
	if p.busy != "" {
		status = p.busy + "…"
	}
	return p.st.box("Devnet", note, p.st.Dim.Render(status), lines, p.w, p.h, true)
}

// devnetDoneMsg ends a devnet action.
type devnetDoneMsg struct {
	act DevnetAction
	err error
}

// openDevnet shows the devnet view.
func (m *Model) openDevnet() {
	if m.focus != focusDevnet {
		m.devnetFrom = m.focus
	}
	m.blurInputs()
	m.focus = focusDevnet
	m.devnet.nodes = m.opts.Devnet.Nodes()
	m.devnet.Scroll(0)
}

// devnetKey handles a key in the devnet view; false when it is not one of
// the view's.
func (m *Model) devnetKey(msg tea.KeyPressMsg) (bool, tea.Cmd) {
	p := &m.devnet
	ctl, ctx := m.opts.Devnet, m.ctx
	if p.busy != "" {
		switch {
		case key.Matches(msg, devnetKeys.StopStart), key.Matches(msg, devnetKeys.Split),
			key.Matches(msg, devnetKeys.Slower), key.Matches(msg, devnetKeys.Faster):
			m.setStatus(statusInfo, "devnet: still "+p.busy)
			return true, nil
		}
	}
	if p.cursor >= len(p.nodes) {
		return false, nil
	}
	i, sel := p.cursor, p.nodes[p.cursor]
	run := func(busy string, act DevnetAction, f func() error) tea.Cmd {
		p.busy = busy
		return func() tea.Msg { return devnetDoneMsg{act: act, err: f()} }
	}
	switch {
	case key.Matches(msg, devnetKeys.StopStart):
		if i == 0 {
			m.setStatus(statusBad, "devnet: node 1 is this dashboard's node; q quits it")
			return true, nil
		}
		if sel.Running {
			return true, run("stopping "+sel.Name, DevnetAction{"stop", sel.Name + " stopped"}, func() error { return ctl.Stop(ctx, i) })
		}
		return true, run("starting "+sel.Name, DevnetAction{"start", sel.Name + " started"}, func() error { return ctl.Start(ctx, i) })
	case key.Matches(msg, devnetKeys.Split):
		for _, n := range p.nodes {
			if n.Half >= 0 {
				return true, run("healing", DevnetAction{"heal", "the two halves reconnect; the heavier chain wins"}, func() error { return ctl.Heal(ctx) })
			}
		}
		return true, run("splitting", DevnetAction{"split", "the network is cut in two halves (A, B)"}, func() error { return ctl.Split(ctx) })
	case key.Matches(msg, devnetKeys.Slower), key.Matches(msg, devnetKeys.Faster):
		if i == 0 {
			m.setStatus(statusBad, "devnet: select another node: the latency is of its link with node 1")
			return true, nil
		}
		d := sel.Delay * 2
		if key.Matches(msg, devnetKeys.Faster) {
			d = sel.Delay / 2
		}
		d = min(max(d, time.Millisecond), 5*time.Second)
		act := DevnetAction{"latency", fmt.Sprintf("link node1–%s: %dms one way (was %dms)", sel.Name, d.Milliseconds(), sel.Delay.Milliseconds())}
		return true, run("setting the latency", act, func() error { return ctl.SetDelay(ctx, 0, i, d) })
	}
	return false, nil
}

// devnetDone reports a finished action: the footer says how it went, the
// events pane keeps it, and the view shows the nodes as they are now.
func (m *Model) devnetDone(msg devnetDoneMsg) {
	m.devnet.busy = ""
	if msg.err != nil {
		m.setStatus(statusBad, "devnet "+msg.act.Action+": "+Sanitize(msg.err.Error()))
	} else {
		m.setStatus(statusOK, "devnet: "+msg.act.Detail)
		m.log.Add(m.localEvent(msg.act))
	}
	if m.opts.Devnet != nil {
		m.devnet.nodes = m.opts.Devnet.Nodes()
		m.devnet.Scroll(0)
	}
}

// localEvent is an event of the dashboard's own, for the events pane.
func (m *Model) localEvent(pl DevnetAction) node.Event {
	return node.Event{Time: m.clock, Node: m.log.home, Payload: pl}
}

// heightLine is a node's height over time, on the scale of every node's
// heights seen in the same window, so halves that grow apart show it.
func (p *devnetPane) heightLine(name string, w int) string {
	h := p.heights[name]
	if len(h) > w {
		h = h[len(h)-w:]
	}
	lo, hi := -1.0, 0.0
	for _, hs := range p.heights {
		if len(hs) > w {
			hs = hs[len(hs)-w:]
		}
		for _, v := range hs {
			if lo < 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
		}
	}
	rel := make([]float64, len(h))
	for i, v := range h {
		rel[i] = v - lo + 1 // the lowest still draws a sliver
	}
	return chart(rel, w, 1, hi-lo+1)[0]
}
