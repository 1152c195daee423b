package ui

import (
	"math"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// pane is what every pane of the body is to the root model: it is sized,
// drawn, scrolled and says which keys it takes. The root routes keys by
// focus through paneFor; adding a pane is a type with these methods, a
// focus value and a place in layout.
type pane interface {
	SetSize(w, h int)
	View() string
	// Scroll moves the pane's window (or cursor) by delta rows, clamped;
	// ±math.MaxInt32 goes to either end.
	Scroll(delta int)
	// visible is how many rows the pane shows at once: a page.
	visible() int
	// help is the pane's own keys, for the footer and ?.
	help(k keyMap) []key.Binding
}

var (
	_ pane = (*chainPane)(nil)
	_ pane = (*peersPane)(nil)
	_ pane = (*miningPane)(nil)
	_ pane = (*eventsPane)(nil)
	_ pane = (*detailPane)(nil)
	_ pane = (*devnetPane)(nil)
	_ pane = (*messagesPane)(nil)
)

func (p *chainPane) help(k keyMap) []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "select"))
	return []key.Binding{move, relabel(k.Open, "detail"), k.treeKey(p.treeMode)}
}

func (p *peersPane) help(k keyMap) []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "select"))
	freeze := k.Freeze
	if p.frozen {
		freeze = relabel(k.Freeze, "unfreeze")
	}
	return []key.Binding{move, relabel(k.Open, "peer detail"), relabel(k.Sort, "sort: "+((p.sortBy+1)%numPeerSorts).String()),
		freeze, k.Disconnect, k.Ban, k.Unban, k.Forget, k.Bans}
}
func (p *miningPane) help(keyMap) []key.Binding { return []key.Binding{scrollKey} }
func (p *eventsPane) help(k keyMap) []key.Binding {
	return []key.Binding{scrollKey, relabel(k.Open, "open event")}
}
func (p *detailPane) help(k keyMap) []key.Binding {
	switch {
	case p.peer != nil:
		return []key.Binding{scrollKey, k.Close, k.Disconnect, k.Ban, k.Unban, k.Forget, k.Bans}
	case p.bansList:
		return []key.Binding{relabel(scrollKey, "select"), k.Unban, k.Close}
	}
	return []key.Binding{scrollKey, k.Close}
}

// fullPane is the pane that fills the body on its own (a detail, the
// devnet or Messages view, or the focused pane zoomed); nil when the panes
// share the body.
func (m *Model) fullPane() pane {
	switch m.focus {
	case focusDetail, focusDevnet, focusMessages:
		return m.paneFor(m.focus)
	case focusChain, focusPeers, focusMining, focusEvents:
		if m.zoomed {
			return m.paneFor(m.focus)
		}
	}
	return nil
}

// paneFor is the pane that takes the keys of focus f; nil for the inputs.
func (m *Model) paneFor(f focus) pane {
	if m.net.open && f != focusComposer && f != focusAddPeer {
		return &m.net
	}
	switch f {
	case focusChain:
		return &m.chain
	case focusPeers:
		return &m.peers
	case focusMining:
		return &m.miner
	case focusEvents:
		return &m.log
	case focusDetail:
		return &m.detail
	case focusDevnet:
		return &m.devnet
	case focusMessages:
		return &m.msgs
	}
	return nil
}

// scrollKeys is the one place scrolling keys are read, for every pane:
// a row, a page (what the pane shows, less one row of context), either end.
func (m *Model) scrollKeys(msg tea.KeyPressMsg, p pane) {
	k := m.keys
	page := max(1, p.visible()-1)
	switch {
	case key.Matches(msg, k.Up):
		p.Scroll(-1)
	case key.Matches(msg, k.Down):
		p.Scroll(1)
	case key.Matches(msg, k.PageUp):
		p.Scroll(-page)
	case key.Matches(msg, k.PageDown):
		p.Scroll(page)
	case key.Matches(msg, k.Top):
		p.Scroll(-math.MaxInt32)
	case key.Matches(msg, k.Bottom):
		p.Scroll(math.MaxInt32)
	}
}
